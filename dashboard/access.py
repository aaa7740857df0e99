"""One registry for the live path: what a channel group is called and who may see an object.

Pages, the websocket consumer and the broadcaster all ask here, so the rule "you see an object
when you are logged in, hold the model's view permission and the object exists" lives in one
place (after Baserow's ws registry and healthchecks' one-helper-per-lookup habit).
"""

from dataclasses import dataclass
from enum import Enum

from django.db import models

from hostsim.models import Host, VirtualMachine
from pools.models import ResourcePool

ENTITY_MODELS: dict[str, type[models.Model]] = {
    "host": Host,
    "pool": ResourcePool,
    "vm": VirtualMachine,
}
MAX_ID = 2**63 - 1  # the largest primary key a BigAutoField (and SQLite) holds


class Verdict(Enum):
    """The answer to "may this user watch this object?", with the websocket close code to send."""

    ALLOWED = 1000
    ANONYMOUS = 4401  # like HTTP 401: log in first
    FORBIDDEN = 4403  # like HTTP 403: no view permission for this kind of object
    UNKNOWN = 4404  # like HTTP 404: no such object (or no such kind)

    @property
    def close_code(self) -> int:
        return self.value


@dataclass(frozen=True)
class Access:
    verdict: Verdict
    obj: models.Model | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOWED


INVENTORY_GROUP = "inventory"  # every logged-in browser tab: "the inventory of host N changed"


def perf_group(kind: str, entity_id: int) -> str:
    """The channel group of one entity's live samples: `perf.vm.42`."""
    if kind not in ENTITY_MODELS:
        raise ValueError(f"unknown entity kind {kind!r}")
    return f"perf.{kind}.{int(entity_id)}"


def check_inventory_access(user) -> Access:
    """Whether `user` may follow the inventory feed: any logged-in user. Its messages carry only
    a host id, and the tree a tab refetches is filtered by the user's view permissions."""
    if user is None or not user.is_authenticated:
        return Access(Verdict.ANONYMOUS)
    return Access(Verdict.ALLOWED)


def view_permission(kind: str) -> str:
    model = ENTITY_MODELS[kind]
    return f"{model._meta.app_label}.view_{model._meta.model_name}"


def change_permission(kind: str) -> str:
    model = ENTITY_MODELS[kind]
    return f"{model._meta.app_label}.change_{model._meta.model_name}"


def parse_entity_id(raw: object) -> int | None:
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def check_access(user, kind: str, raw_id: object) -> Access:
    """Whether `user` may see `kind` `raw_id`; a permission is checked before existence, so a
    user without it learns nothing about which objects exist. Touches the database."""
    if user is None or not user.is_authenticated:
        return Access(Verdict.ANONYMOUS)
    if kind not in ENTITY_MODELS:
        return Access(Verdict.UNKNOWN)
    if not user.has_perm(view_permission(kind)):
        return Access(Verdict.FORBIDDEN)
    entity_id = parse_entity_id(raw_id)
    obj = ENTITY_MODELS[kind].objects.filter(pk=entity_id).first() if entity_id else None
    if obj is None:
        return Access(Verdict.UNKNOWN)
    return Access(Verdict.ALLOWED, obj)
