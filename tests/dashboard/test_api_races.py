"""Conflicting API requests that really overlap end as some serial order of them would, never 500.

Each request runs in its own thread with its own session client and database connection; a
barrier releases them together, so they meet on the host's lock in PostgreSQL (SQLite serialises
writers by itself). For every outcome the test names the serial orders that could give it, and
checks the database agrees with the one that happened.
"""

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostsim.models import Host, PowerState, VirtualMachine
from pools import admission, services
from pools.models import ResourcePool
from tests.dashboard.test_api_fuzz import assert_well_formed
from tests.pools.conftest import Lab, fixed, reserve
from tests.pools.test_concurrency import race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_passwords"),
]


@pytest.fixture
def admin(db) -> User:
    return User.objects.create_superuser("admin", password="x-password-1")


def session(user: User) -> Client:
    """A logged-in browser session; a 500 comes back as a response instead of raising."""
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def request(user: User, method: str, url: str, body=None):
    """A call for race(): a fresh session (made now, before the barrier) sends one request."""
    client = session(user)
    if body is None:
        return lambda: getattr(client, method)(url)
    return lambda: getattr(client, method)(url, json.dumps(body), content_type="application/json")


def status(response) -> int:
    assert not isinstance(response, BaseException), response
    assert response.status_code < 500, response.content
    return response.status_code


def assert_gone(response) -> None:
    """A 404 in DESIGN's shape: the object was deleted by the request that went first."""
    assert status(response) == 404, response.content
    assert set(response.json()) == {"error"}, response.content


def test_concurrent_deletes_of_one_pool_give_one_204_and_404_for_the_rest(admin):
    lab = Lab()
    pool = lab.pool("P")
    vm = lab.vm("v", "P")

    outcomes = race([request(admin, "delete", f"/api/pools/{pool.pk}/") for _ in range(5)])

    assert sorted(status(o) for o in outcomes) == [204, 404, 404, 404, 404]
    for gone in (o for o in outcomes if o.status_code == 404):
        assert_gone(gone)
    assert not ResourcePool.objects.filter(pk=pool.pk).exists()
    assert VirtualMachine.objects.get(pk=vm.pk).resource_pool_id == lab.root.pk


def test_deleting_a_pool_while_moving_into_it_and_creating_under_it_ends_in_a_serial_order(admin):
    lab = Lab()
    rounds = 6
    for round_ in range(rounds):
        pool = lab.pool(f"P{round_}")
        source = lab.pool(f"S{round_}")
        vm = lab.vm(f"v{round_}", f"S{round_}")

        deleted, moved, created = race(
            [
                request(admin, "delete", f"/api/pools/{pool.pk}/"),
                request(admin, "post", f"/api/pools/{pool.pk}/move-into/", {"vms": [vm.pk]}),
                request(admin, "post", "/api/pools/", {"name": f"C{round_}", "parent": pool.pk}),
            ]
        )

        assert status(deleted) == 204  # nothing forbids the delete, whoever goes first
        assert not ResourcePool.objects.filter(pk=pool.pk).exists()
        if status(moved) == 200:  # moved in first, then handed up to the root by the delete
            assert VirtualMachine.objects.get(pk=vm.pk).resource_pool_id == lab.root.pk
        else:  # the target was gone: the VM stays where it was
            assert_gone(moved)
            assert VirtualMachine.objects.get(pk=vm.pk).resource_pool_id == source.pk
        child = ResourcePool.objects.filter(host=lab.host, name=f"C{round_}").first()
        if status(created) == 201:
            assert child.parent_id == lab.root.pk
        else:
            assert_gone(created)
            assert child is None


def test_power_on_beside_delete_never_deletes_a_running_vm(admin):
    lab = Lab()
    vms = [lab.vm(f"v{i}", memory=reserve(256), memory_mb=1024) for i in range(8)]
    calls = []
    for vm in vms:
        calls.append(request(admin, "post", f"/api/vms/{vm.pk}/power-on/"))
        calls.append(request(admin, "delete", f"/api/vms/{vm.pk}/"))

    outcomes = race(calls)

    for vm, powered, deleted in zip(vms, outcomes[::2], outcomes[1::2], strict=True):
        still_there = VirtualMachine.objects.filter(pk=vm.pk).first()
        if status(powered) == 200:  # power-on first: the delete sees it running and refuses
            assert status(deleted) == 400, deleted.content
            assert "Power off" in deleted.json()["error"]
            assert still_there.power_state == PowerState.POWERED_ON
        else:  # delete first: there is nothing left to power on
            assert_gone(powered)
            assert status(deleted) == 204
            assert still_there is None
    running = VirtualMachine.objects.filter(power_state=PowerState.POWERED_ON).count()
    assert lab.usage()["reservationUsedForVm"] == running * 256


def test_power_off_beside_delete_deletes_only_after_the_power_off(admin):
    lab = Lab()
    vms = [lab.vm(f"v{i}", on=True, memory_mb=1024) for i in range(6)]
    calls = []
    for vm in vms:
        calls.append(request(admin, "delete", f"/api/vms/{vm.pk}/"))
        calls.append(request(admin, "post", f"/api/vms/{vm.pk}/power-off/"))

    outcomes = race(calls)

    for vm, deleted, powered_off in zip(vms, outcomes[::2], outcomes[1::2], strict=True):
        assert status(powered_off) == 200  # the VM exists until it is off, so this always runs
        if status(deleted) == 204:
            assert not VirtualMachine.objects.filter(pk=vm.pk).exists()
        else:
            assert status(deleted) == 400 and "Power off" in deleted.json()["error"]
            assert VirtualMachine.objects.get(pk=vm.pk).power_state == PowerState.POWERED_OFF


@pytest.mark.parametrize(
    "url, body",
    [
        ("/api/vms/", lambda lab: {"name": "twin", "host": lab.host.pk}),
        ("/api/pools/", lambda lab: {"name": "twin", "parent": lab.root.pk}),
        ("/api/hosts/", lambda lab: {"name": "twin", "memoryMB": 8192, "cpuMhz": 8000}),
    ],
    ids=["vm", "pool", "host"],
)
def test_concurrent_creations_of_one_name_give_one_201_and_400s_naming_the_name(admin, url, body):
    lab = Lab()

    outcomes = race([request(admin, "post", url, body(lab)) for _ in range(5)])

    assert sorted(status(o) for o in outcomes) == [201, 400, 400, 400, 400]
    for refused in (o for o in outcomes if o.status_code == 400):
        assert set(refused.json()) == {"error", "fields"} and "name" in refused.json()["fields"]
    model = {"/api/vms/": VirtualMachine, "/api/pools/": ResourcePool, "/api/hosts/": Host}[url]
    assert model.objects.filter(name="twin").count() == 1


# Conflicting requests on one small tree, as a fuzzer would pick them: P (fixed 3072 MB) holds the
# VM "a" and the pool Q (with VM "b"); "c" runs in the root. Each name maps to (method, path, body)
# with the objects' ids filled in.
OPERATIONS = {
    "delete P": ("delete", "pools/{P}/", None),
    "delete Q": ("delete", "pools/{Q}/", None),
    "shrink P": ("patch", "pools/{P}/", {"memoryAllocation": {"reservation": 1024}}),
    "create under Q": ("post", "pools/", {"name": "N", "parent": "{Q}"}),
    "c into P": ("post", "pools/{P}/move-into/", {"vms": ["{c}"]}),
    "a into Q": ("post", "pools/{Q}/move-into/", {"vms": ["{a}"]}),
    "Q into root": ("post", "pools/{root}/move-into/", {"pools": ["{Q}"]}),
    "power on a": ("post", "vms/{a}/power-on/", None),
    "power on b": ("post", "vms/{b}/power-on/", None),
    "power off c": ("post", "vms/{c}/power-off/", None),
    "delete a": ("delete", "vms/{a}/", None),
    "delete c": ("delete", "vms/{c}/", None),
    "grow a": ("patch", "vms/{a}/", {"memoryAllocation": {"reservation": 2048}}),
    "guest of c": ("post", "vms/{c}/guest/", {"action": "allocate", "mb": 1}),
}


def fill(template, ids: dict[str, int]):
    """The template with "{name}" strings replaced by ids (JSON integers, as the API wants)."""
    if isinstance(template, str) and template.startswith("{") and template.endswith("}"):
        return ids[template[1:-1]]
    if isinstance(template, str):
        return template.format(**ids)
    if isinstance(template, list):
        return [fill(item, ids) for item in template]
    if isinstance(template, dict):
        return {key: fill(value, ids) for key, value in template.items()}
    return template


def small_tree(index: int) -> tuple[Lab, dict[str, int]]:
    lab = Lab(name=f"esxi-{index}")
    p = lab.pool("P", memory=fixed(3072))
    q = lab.pool("Q", "P")
    a = lab.vm("a", "P", memory=reserve(1024), memory_mb=2048)
    b = lab.vm("b", "Q", memory=reserve(1024), memory_mb=2048)
    c = lab.vm("c", on=True, memory=reserve(1024), memory_mb=2048)
    return lab, {"root": lab.root.pk, "P": p.pk, "Q": q.pk, "a": a.pk, "b": b.pk, "c": c.pk}


def test_random_conflicting_requests_never_500_and_leave_a_tree_admission_control_accepts(admin):
    examples = iter(range(10_000))

    @settings(
        max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(st.lists(st.sampled_from(sorted(OPERATIONS)), min_size=2, max_size=5))
    def race_once(names):
        lab, ids = small_tree(next(examples))
        calls = []
        for name in names:
            method, path, body = OPERATIONS[name]
            calls.append(request(admin, method, "/api/" + fill(path, ids), fill(body, ids)))

        outcomes = race(calls)

        for name, response in zip(names, outcomes, strict=True):
            status(response)
            if response.status_code != 204:
                assert_well_formed(response, name)
        tree = services.snapshot(lab.host.pk)  # one root, every parent there, no cycle
        assert admission.violations(tree) == [], names
        succeeded = {name for name, o in zip(names, outcomes, strict=True) if o.status_code < 300}
        # No power-off of "a" is on the menu: its power-on and delete cannot both succeed.
        assert not {"power on a", "delete a"} <= succeeded, names

    race_once()
