"""Random JSON against every writable field of the API: never a 500, every 4xx in DESIGN's shape.

Schema-driven by hand (schemathesis is not a dependency): each endpoint lists its writable
fields with plausible values (ids that exist, choices that are valid) mixed with arbitrary JSON
(negative, huge and non-finite numbers, floats, strings, booleans, nulls, lists and objects
nested up to far past the parser's depth limit), so that some requests get past the serializers
into pools.services. A second property sends one field of a JSON type that is not its own (a
float or a string for an id, a string or 1 for a boolean, a number for a name) and wants a 400
naming that field: nothing is coerced. Each example is rolled back. Conflicting writes that
really overlap are fuzzed on PostgreSQL in tests/dashboard/test_api_races.py.
"""

import json
import math

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.pools.conftest import Lab, expandable, reserve

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


class Raw:
    """JSON text sent as it is: what json.dumps cannot write (1e999) or should not (deep nests)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r}{'...' if len(self.text) > 40 else ''})"


def to_json(value) -> str:
    """The request body: json.dumps, but infinities as 1e999 literals and Raw as written."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, float) and math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_json(item) for item in value) + "]"
    return json.dumps(value)


JSON_MAX_DEPTH = 64  # dashboard.api.views.JSON_MAX_DEPTH
DEPTHS = st.one_of(st.integers(min_value=1, max_value=70), st.sampled_from([500, 1000, 20_000]))


def nested(depth: int, kind: str) -> Raw:
    if kind == "[":
        return Raw("[" * depth + "]" * depth)
    if kind == "[unclosed":
        return Raw("[" * depth)
    return Raw('{"a": ' * depth + "1" + "}" * depth)


DEEP = st.builds(nested, DEPTHS, st.sampled_from(["[", "{", "[unclosed"]))
HUGE_NUMBERS = st.one_of(
    st.sampled_from([math.inf, -math.inf, 1e308, -1e308, 2**63, 2**64, -(2**63) - 1]),
    st.integers(min_value=1, max_value=4000).map(lambda digits: Raw("9" * digits)),
    st.sampled_from([Raw("1e400"), Raw("-1e400"), Raw("1E999"), Raw("-0.0"), Raw("1e-400")]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=70_000),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    HUGE_NUMBERS,
    st.text(max_size=90),
)
ANY_JSON = st.one_of(
    st.recursive(
        SCALARS,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
        ),
        max_leaves=6,
    ),
    DEEP,
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


def plausible_body(fields: dict[str, st.SearchStrategy], required: tuple[str, ...] = ()):
    return st.fixed_dictionaries(
        {name: fields[name] for name in required},
        optional={name: value for name, value in fields.items() if name not in required},
    )


def body(fields: dict[str, st.SearchStrategy], required: tuple[str, ...] = ()) -> st.SearchStrategy:
    """A JSON body for an endpoint whose writable fields are `fields` (plausible values).

    Most bodies are plausible throughout (so they reach pools.services and its refusals), some
    have one field (or an unknown one) replaced by arbitrary JSON, some are arbitrary JSON.
    """
    plausible = plausible_body(fields, required)
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

    def endpoints(self) -> dict[str, tuple[str, st.SearchStrategy, dict, tuple[str, ...]]]:
        """Per endpoint: method, URLs, plausible values of its writable fields, required ones."""
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
            "POST pools/": ("post", st.just("/api/pools/"), pool_fields, ("name", "parent")),
            "PATCH pools/{id}/": (
                "patch",
                pool_ids.map("/api/pools/{}/".format),
                pool_fields,
                (),
            ),
            "POST vms/": ("post", st.just("/api/vms/"), vm_fields, ("name", "host")),
            "PATCH vms/{id}/": ("patch", vm_ids.map("/api/vms/{}/".format), vm_fields, ()),
            "POST pools/{id}/move-into/": (
                "post",
                pool_ids.map("/api/pools/{}/move-into/".format),
                move_fields,
                (),
            ),
            "POST vms/{id}/guest/": (
                "post",
                vm_ids.map("/api/vms/{}/guest/".format),
                guest_fields,
                ("action",),
            ),
            "PATCH hosts/{id}/": (
                "patch",
                host_ids.map("/api/hosts/{}/".format),
                host_fields,
                (),
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


FUZZ_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_random_input_never_gets_a_500_and_every_refusal_has_the_error_shape(
    admin_client, endpoint
):
    scene = Scene()
    method, urls, fields, required = scene.endpoints()[endpoint]

    @FUZZ_SETTINGS
    @given(url=urls, payload=body(fields, required))
    def request_once(url, payload):
        sent = to_json(payload)
        with transaction.atomic():
            response = getattr(admin_client, method)(
                url, data=sent, content_type="application/json"
            )
            transaction.set_rollback(True)
        event(f"HTTP {response.status_code}")  # --hypothesis-show-statistics: how deep requests got
        assert_well_formed(response, f"{method.upper()} {url} {sent}")

    request_once()


# The JSON type each writable field takes, and values of every other type. A nested allocation's
# parts are typed too ("memoryAllocation.reservation").
INTEGER, NUMBER, STRING, BOOLEAN = "integer", "number", "string", "boolean"
OBJECT, LIST = "object", "list"
ALLOCATION = {
    "reservation": INTEGER,
    "limit": INTEGER,
    "expandableReservation": BOOLEAN,
    "shares": OBJECT,
}
FIELD_TYPES = {
    "POST pools/": {
        "name": STRING,
        "parent": INTEGER,
        "cpuAllocation": OBJECT,
        "memoryAllocation": OBJECT,
    },
    "PATCH pools/{id}/": {"name": STRING, "parent": INTEGER, "memoryAllocation": OBJECT},
    "POST vms/": {
        "name": STRING,
        "host": INTEGER,
        "resourcePool": INTEGER,
        "memoryMB": INTEGER,
        "numCPUs": INTEGER,
        "guestOS": STRING,
        "workload": STRING,
        "mmuMode": STRING,
        "pshareEnabled": BOOLEAN,
        "pshareSalt": STRING,
        "cpuAllocation": OBJECT,
    },
    "PATCH vms/{id}/": {
        "name": STRING,
        "memoryMB": INTEGER,
        "pshareEnabled": BOOLEAN,
        "mmuMode": STRING,
    },
    "POST pools/{id}/move-into/": {"vms": LIST, "pools": LIST},
    "POST vms/{id}/guest/": {"action": STRING, "mb": INTEGER, "fraction": NUMBER},
    "PATCH hosts/{id}/": {
        "name": STRING,
        "memoryMB": INTEGER,
        "cpuMhz": INTEGER,
        "hardwareMmu": BOOLEAN,
        "advancedSettings": OBJECT,
        "seed": INTEGER,
    },
}
_NOT = {
    INTEGER: [1.5, 2.0, -0.5, "2", "12", True, False, math.inf, -math.inf, Raw("1e400"), [1], {}],
    STRING: [5, 0, 1.5, True, False, math.inf, Raw("-1e400"), ["x"], {"x": "y"}],
    BOOLEAN: ["yes", "true", "false", "on", "1", 1, 0, 1.0, ["true"], {}],
    OBJECT: ["x", 5, 1.5, True, [], [{}], math.inf],
    LIST: ["all", 5, True, {"0": 1}, math.inf],
    NUMBER: ["0.5", "half", True, False, math.inf, -math.inf, Raw("1e999"), [0.5], {}],
}


def wrong_value(kind: str) -> st.SearchStrategy:
    """A value that is not of JSON type `kind`: null, or another type, or nested too deep."""
    # "[]" (depth 1) is an empty list, a right value for a list field.
    deep_lists = DEEP.filter(
        lambda raw: raw.text.startswith("[") and raw.text.endswith("]") and raw.text != "[]"
    )
    return st.one_of(st.none(), st.sampled_from(_NOT[kind]), deep_lists)


def coerced_forms(value) -> list:
    """What a lenient parser would turn back into `value`: 2.5 or "2" for the id 2, "true" or 1
    for true. These are the values that used to pass (a pool under pool 2, a flag turned on)."""
    if isinstance(value, bool):
        return [str(value).lower(), int(value), "yes" if value else "no"]
    if isinstance(value, int):
        return [value + 0.5, value + 0.9, float(value), str(value)]
    return []


@st.composite
def mistyped(draw, endpoint: str, fields: dict, required: tuple[str, ...]):
    """(body, dotted path of the one mistyped field) from a plausible body of the endpoint."""
    payload = dict(draw(plausible_body(fields, required)))
    name = draw(st.sampled_from(sorted(FIELD_TYPES[endpoint])))
    if name.endswith("Allocation") and draw(st.booleans()):
        part = draw(st.sampled_from(sorted(ALLOCATION)))
        payload[name] = {**payload.get(name, {}), part: draw(wrong_value(ALLOCATION[part]))}
        return payload, f"{name}.{part}"
    wrong = wrong_value(FIELD_TYPES[endpoint][name])
    coerced = coerced_forms(payload[name] if name in payload else draw(fields[name]))
    if coerced:
        wrong = st.one_of(st.sampled_from(coerced), wrong)  # drawn as often as all the others
    payload[name] = draw(wrong)
    return payload, name


def named(fields: dict, path: str) -> bool:
    node = fields
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return bool(node)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_field_of_the_wrong_json_type_is_a_400_naming_it(admin_client, endpoint):
    scene = Scene()
    method, urls, fields, required = scene.endpoints()[endpoint]

    @settings(FUZZ_SETTINGS, max_examples=30)
    @given(url=urls, case=mistyped(endpoint, fields, required))
    def request_once(url, case):
        payload, path = case
        sent = to_json(payload)
        with transaction.atomic():
            response = getattr(admin_client, method)(
                url, data=sent, content_type="application/json"
            )
            transaction.set_rollback(True)
        request = f"{method.upper()} {url} {sent[:300]}"
        assert_well_formed(response, request)
        if response.status_code == 404:  # the object in the URL does not exist: checked first
            return
        assert response.status_code == 400, request
        body = response.json()
        if "nest more than" in body["error"] or "pair up" in body["error"]:
            assert sent.count("[") > JSON_MAX_DEPTH, request  # refused whole: too deep to read
        else:
            assert named(body["fields"], path), (request, body)

    request_once()
