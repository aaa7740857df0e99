"""Random JSON against every writable field of the API: never a 500, every 4xx in DESIGN's shape.

Schema-driven by hand (schemathesis is not a dependency): each endpoint lists its writable
fields with plausible values (ids that exist, choices that are valid) mixed with arbitrary JSON
(negative, huge, floats, strings, booleans, nulls, nested lists and objects), so that some
requests get past the serializers into pools.services. Each example is rolled back.
"""

import json

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.pools.conftest import Lab, expandable, reserve

pytestmark = pytest.mark.django_db

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=70_000),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=90),
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=6,
)
NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=8192), st.sampled_from([-1, 0, 1, 2**31 - 1, 2**31, 2**63])
)
LIMITS = st.one_of(st.just(-1), st.integers(min_value=0, max_value=16384))
NAMES = st.one_of(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=20),
    st.sampled_from(["P", "Q", "running", "stopped", "", " x ", "x" * 80, "x" * 81]),
)
LEVELS = st.sampled_from(["low", "normal", "high", "custom"])


def allocation() -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {},
        optional={
            "reservation": NUMBERS,
            "limit": LIMITS,
            "expandableReservation": st.booleans(),
            "shares": st.fixed_dictionaries({"level": LEVELS}, optional={"shares": NUMBERS}),
        },
    )


def body(fields: dict[str, st.SearchStrategy], required: tuple[str, ...] = ()) -> st.SearchStrategy:
    """A JSON body for an endpoint whose writable fields are `fields` (plausible values).

    Most bodies are plausible throughout (so they reach pools.services and its refusals), some
    have one field (or an unknown one) replaced by arbitrary JSON, some are arbitrary JSON.
    """
    plausible = st.fixed_dictionaries(
        {name: fields[name] for name in required},
        optional={name: value for name, value in fields.items() if name not in required},
    )
    spoiled = st.tuples(plausible, st.sampled_from([*fields, "unknownField"]), ANY_JSON).map(
        lambda parts: {**parts[0], parts[1]: parts[2]}
    )
    return st.one_of(plausible, plausible, plausible, spoiled, ANY_JSON)


class Scene:
    """Two hosts; on the first, pools P > Q under the root, a running and a stopped VM."""

    def __init__(self):
        lab = Lab()
        lab.pool("P", memory=expandable(1024))
        lab.pool("Q", "P")
        lab.vm("running", "P", on=True, memory=reserve(512), memory_mb=2048, mmu_mode="hardware")
        lab.vm("stopped", memory=reserve(1024), memory_mb=2048)
        other = Lab(name="esxi-b", hardware_mmu=False)
        other.pool("THEIRS")
        other.vm("theirs")
        self.host, self.other_host = lab.host.pk, other.host.pk
        self.pools = [lab.root.pk, lab.get_pool("P").pk, lab.get_pool("Q").pk]
        self.foreign_pools = [other.root.pk, other.get_pool("THEIRS").pk, 999_999, 2**63, -1]
        self.vms = [lab.get_vm("running").pk, lab.get_vm("stopped").pk]
        self.foreign_vms = [other.get_vm("theirs").pk, 999_999, 2**63, 0]

    def endpoints(self) -> dict[str, tuple[str, st.SearchStrategy, st.SearchStrategy]]:
        # Mostly this host's objects, sometimes the other host's or one that does not exist.
        pool_ids = st.one_of(st.sampled_from(self.pools), st.sampled_from(self.foreign_pools))
        vm_ids = st.one_of(st.sampled_from(self.vms), st.sampled_from(self.foreign_vms))
        host_ids = st.sampled_from([self.host, self.host, self.other_host, 999_999])
        pool_fields = {
            "name": NAMES,
            "parent": pool_ids,
            "cpuAllocation": allocation(),
            "memoryAllocation": allocation(),
        }
        vm_fields = {
            "name": NAMES,
            "host": host_ids,
            "resourcePool": pool_ids,
            "memoryMB": NUMBERS,
            "numCPUs": st.integers(min_value=0, max_value=800),
            "guestOS": st.sampled_from(["linux", "windows"]),
            "workload": st.sampled_from(["idle", "webserver", "database", "batch", "toucher"]),
            "mmuMode": st.sampled_from(["automatic", "software", "hardware"]),
            "pshareEnabled": st.booleans(),
            "pshareSalt": st.text(max_size=70),
            "cpuAllocation": allocation(),
            "memoryAllocation": allocation(),
        }
        host_fields = {
            "name": st.sampled_from(["esxi-a", "esxi-b", "esxi-c"]),
            "memoryMB": st.integers(min_value=0, max_value=70_000),
            "cpuMhz": st.integers(min_value=0, max_value=70_000),
            "hardwareMmu": st.booleans(),
            "advancedSettings": st.fixed_dictionaries(
                {},
                optional={
                    "Mem.ShareScanTime": st.integers(min_value=0, max_value=700),
                    "Mem.ShareScanGHz": st.integers(min_value=-1, max_value=40),
                    "Mem.ShareRateMax": NUMBERS,
                    "Mem.ShareForceSalting": st.integers(min_value=-1, max_value=3),
                },
            ),
            "seed": NUMBERS,
        }
        move_fields = {"vms": st.lists(vm_ids, max_size=3), "pools": st.lists(pool_ids, max_size=3)}
        guest_fields = {
            "action": st.sampled_from(["allocate", "free", "write"]),
            "mb": NUMBERS,
            "fraction": st.floats(min_value=-1, max_value=2),
        }
        return {
            "POST pools/": ("post", st.just("/api/pools/"), body(pool_fields, ("name", "parent"))),
            "PATCH pools/{id}/": (
                "patch",
                pool_ids.map("/api/pools/{}/".format),
                body(pool_fields),
            ),
            "POST vms/": ("post", st.just("/api/vms/"), body(vm_fields, ("name", "host"))),
            "PATCH vms/{id}/": ("patch", vm_ids.map("/api/vms/{}/".format), body(vm_fields)),
            "POST pools/{id}/move-into/": (
                "post",
                pool_ids.map("/api/pools/{}/move-into/".format),
                body(move_fields),
            ),
            "POST vms/{id}/guest/": (
                "post",
                vm_ids.map("/api/vms/{}/guest/".format),
                body(guest_fields, ("action",)),
            ),
            "PATCH hosts/{id}/": (
                "patch",
                host_ids.map("/api/hosts/{}/".format),
                body(host_fields),
            ),
        }


ENDPOINTS = [
    "POST pools/",
    "PATCH pools/{id}/",
    "POST vms/",
    "PATCH vms/{id}/",
    "POST pools/{id}/move-into/",
    "POST vms/{id}/guest/",
    "PATCH hosts/{id}/",
]


def assert_well_formed(response, request: str) -> None:
    assert response.status_code < 500, request
    payload = response.json()
    if response.status_code == 400:
        assert set(payload) == {"error", "fields"}, (request, payload)
        assert isinstance(payload["error"], str) and payload["error"], (request, payload)
        assert isinstance(payload["fields"], dict), (request, payload)
    elif response.status_code == 409:
        assert set(payload) == {"error", "fault", "pool", "resource", "requested", "unreserved"}, (
            request,
            payload,
        )
        assert payload["fault"] == "InsufficientResourcesFault"
        assert isinstance(payload["requested"], int) and isinstance(payload["unreserved"], int)
    elif response.status_code >= 400:
        assert set(payload) == {"error"}, (request, payload)
    else:
        assert isinstance(payload, dict), (request, payload)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_random_input_never_gets_a_500_and_every_refusal_has_the_error_shape(
    admin_client, endpoint
):
    scene = Scene()
    method, urls, bodies = scene.endpoints()[endpoint]

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(url=urls, payload=bodies)
    def request_once(url, payload):
        sent = json.dumps(payload)
        with transaction.atomic():
            response = getattr(admin_client, method)(
                url, data=sent, content_type="application/json"
            )
            transaction.set_rollback(True)
        event(f"HTTP {response.status_code}")  # --hypothesis-show-statistics: how deep requests got
        assert_well_formed(response, f"{method.upper()} {url} {sent}")

    request_once()
