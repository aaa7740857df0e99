"""The JSON API of DESIGN section 7 for hosts, pools and VMs: shapes, verbs, errors, access.

Every refusal is checked for its error shape and for having written nothing.
"""

import base64
import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from hostsim.models import GuestOperation, VirtualMachine
from pools.models import ResourcePool
from tests.pools.conftest import (
    HOST_CPU_MHZ,
    ROOT_MEMORY_MB,
    Lab,
    database_state,
    expandable,
    fixed,
    reserve,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

PASSWORD = "lab-password-1"  # dashboard_factories.make_user's, for the viewer and operator

DEFAULT_SETTINGS = {
    "Mem.ShareScanTime": 60,
    "Mem.ShareScanGHz": 4,
    "Mem.ShareRateMax": 1024,
    "Mem.ShareForceSalting": 2,
    # memory under contention (ESXi's defaults)
    "Mem.MemMinFreePct": 0,
    "Mem.IdleTax": 75,
    "Mem.CtlMaxPercent": 65,
    "Mem.MemZipEnable": 1,
    "Mem.MemZipMaxPct": 10,
    "Mem.BalancePeriod": 15,
    "Mem.AllocGuestLargePage": 1,
}
RUNTIME_FIELDS = {
    "reservationUsed",
    "reservationUsedForVm",
    "unreservedForPool",
    "unreservedForVm",
    "maxUsage",
}
ADMISSION_FIELDS = {"error", "fault", "pool", "resource", "requested", "unreserved"}


@pytest.fixture
def api(admin_user) -> APIClient:
    client = APIClient()
    client.force_login(admin_user)
    return client


def assert_bad_request(response, *fields: str) -> dict:
    """400 in DESIGN's shape, naming `fields` (dotted for nested ones) with a message each."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"error", "fields"}, body
    assert isinstance(body["error"], str) and body["error"], body
    assert isinstance(body["fields"], dict), body
    for name in fields:
        messages = body["fields"]
        for part in name.split("."):
            assert part in messages, (name, body)
            messages = messages[part]
        assert isinstance(messages, str | dict) and messages, (name, body)
    return body


def post(client, url: str, data=None):
    return client.post(
        url, data=json.dumps(data if data is not None else {}), content_type="application/json"
    )


def patch(client, url: str, data):
    return client.patch(url, data=json.dumps(data), content_type="application/json")


# --------------------------------------------------------------------------- shapes


def test_hosts_are_listed_with_vsphere_names(api, lab):
    lab.pool("P")

    listing = api.get("/api/hosts/")
    detail = api.get(f"/api/hosts/{lab.host.pk}/")

    assert listing.status_code == detail.status_code == 200
    expected = {
        "id": lab.host.pk,
        "name": "esxi-a",
        "memoryMB": 16384,
        "cpuMhz": HOST_CPU_MHZ,
        "hardwareMmu": True,
        "advancedSettings": DEFAULT_SETTINGS,
        "rootPool": lab.root.pk,
        "seed": 0,
    }
    assert listing.json() == [expected]
    assert detail.json() == expected


def test_pools_show_their_allocations_and_runtime(api, lab):
    pool = lab.pool("P", cpu=fixed(3000, limit=5000), memory=expandable(1024))
    lab.vm("v", "P", on=True, memory=reserve(2048))

    listing = api.get("/api/pools/").json()
    detail = api.get(f"/api/pools/{pool.pk}/").json()

    assert [p["name"] for p in listing] == ["Resources", "P"]
    assert listing[1] == detail
    assert detail == {
        "id": pool.pk,
        "name": "P",
        "parent": lab.root.pk,
        "host": lab.host.pk,
        "cpuAllocation": {
            "reservation": 3000,
            "limit": 5000,
            "expandableReservation": False,
            "shares": {"level": "normal", "shares": 4000},
        },
        "memoryAllocation": {
            "reservation": 1024,
            "limit": -1,
            "expandableReservation": True,
            "shares": {"level": "normal", "shares": 163840},
        },
        "runtime": {
            "cpu": {
                "reservationUsed": 0,
                "reservationUsedForVm": 0,
                "unreservedForPool": 3000,
                "unreservedForVm": 3000,
                "maxUsage": 5000,
            },
            "memory": {
                "reservationUsed": 2048,
                "reservationUsedForVm": 2048,
                "unreservedForPool": ROOT_MEMORY_MB - 2048,
                "unreservedForVm": ROOT_MEMORY_MB - 2048,
                "maxUsage": ROOT_MEMORY_MB,
            },
        },
    }
    root = listing[0]
    assert (root["parent"], root["memoryAllocation"]["reservation"]) == (None, ROOT_MEMORY_MB)
    assert root["runtime"]["memory"]["reservationUsed"] == 2048
    assert set(root["runtime"]["cpu"]) == RUNTIME_FIELDS


def test_vms_show_their_configuration_and_power_state(api, lab):
    vm = lab.vm(
        "web-01",
        memory_mb=2048,
        vcpus=2,
        memory=reserve(512, 1024),
        workload="webserver",
        guest_os="windows",
        pshare_enabled=False,
        pshare_salt="team-a",
    )

    listing = api.get("/api/vms/").json()
    detail = api.get(f"/api/vms/{vm.pk}/").json()

    assert listing == [detail]
    assert detail == {
        "id": vm.pk,
        "name": "web-01",
        "host": lab.host.pk,
        "resourcePool": lab.root.pk,
        "memoryMB": 2048,
        "numCPUs": 2,
        "guestOS": "windows",
        "workload": "webserver",
        "mmuMode": "automatic",
        "pshareEnabled": False,
        "pshareSalt": "team-a",
        "balloonDriver": True,
        "powerState": "poweredOff",
        "cpuAllocation": {
            "reservation": 0,
            "limit": -1,
            "shares": {"level": "normal", "shares": 2000},
        },
        "memoryAllocation": {
            "reservation": 512,
            "limit": 1024,
            "shares": {"level": "normal", "shares": 20480},
        },
    }


def test_unknown_objects_are_404_in_json(api, lab):
    for url in ("/api/hosts/999/", "/api/pools/999/", "/api/vms/999/", "/api/vms/999/power-on/"):
        response = api.get(url) if "power" not in url else post(api, url)
        assert response.status_code == 404, url
        assert set(response.json()) == {"error"}


# --------------------------------------------------------------------------- writing


def test_a_pool_is_created_and_changed_through_the_api(api, lab):
    response = post(
        api,
        "/api/pools/",
        {
            "name": "Gold",
            "parent": lab.root.pk,
            "memoryAllocation": {
                "reservation": 2048,
                "expandableReservation": False,
                "shares": {"level": "high"},
            },
        },
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["memoryAllocation"] == {
        "reservation": 2048,
        "limit": -1,
        "expandableReservation": False,
        "shares": {"level": "high", "shares": 327680},
    }
    assert created["cpuAllocation"]["expandableReservation"] is True  # a new pool's default

    response = patch(
        api,
        f"/api/pools/{created['id']}/",
        {"name": "Platinum", "memoryAllocation": {"limit": 4096}},
    )

    assert response.status_code == 200, response.content
    pool = ResourcePool.objects.get(pk=created["id"])
    assert (pool.name, pool.memory_reservation, pool.memory_limit, pool.memory_expandable) == (
        "Platinum",
        2048,
        4096,
        False,
    )
    assert response.json()["runtime"]["memory"]["maxUsage"] == 4096


def test_a_pool_whose_reservation_does_not_fit_is_refused_with_409(api, lab):
    lab.pool("PARENT", memory=fixed(4096))
    before = database_state()

    response = post(
        api,
        "/api/pools/",
        {
            "name": "Child",
            "parent": lab.get_pool("PARENT").pk,
            "memoryAllocation": {"reservation": 4097},
        },
    )

    assert response.status_code == 409
    body = response.json()
    assert set(body) == ADMISSION_FIELDS
    assert (body["fault"], body["pool"], body["resource"]) == (
        "InsufficientResourcesFault",
        "PARENT",
        "memory",
    )
    assert (body["requested"], body["unreserved"]) == (4097, 4096)
    assert database_state() == before


def test_a_vm_is_created_powered_on_and_off(api, lab):
    lab.pool("P", memory=fixed(4096))
    pool = lab.get_pool("P")
    response = post(
        api,
        "/api/vms/",
        {
            "name": "db-01",
            "host": lab.host.pk,
            "resourcePool": pool.pk,
            "memoryMB": 4096,
            "numCPUs": 4,
            "guestOS": "linux",
            "workload": "database",
            "memoryAllocation": {"reservation": 3072},
        },
    )
    assert response.status_code == 201, response.content
    vm = response.json()
    assert (vm["powerState"], vm["resourcePool"], vm["memoryAllocation"]["reservation"]) == (
        "poweredOff",
        pool.pk,
        3072,
    )

    on = post(api, f"/api/vms/{vm['id']}/power-on/")

    assert on.status_code == 200, on.content
    assert on.json()["powerState"] == "poweredOn"
    assert api.get(f"/api/pools/{pool.pk}/").json()["runtime"]["memory"]["unreservedForVm"] == 1024
    off = post(api, f"/api/vms/{vm['id']}/power-off/")
    assert (off.status_code, off.json()["powerState"]) == (200, "poweredOff")
    assert api.get(f"/api/pools/{pool.pk}/").json()["runtime"]["memory"]["unreservedForVm"] == 4096


def test_a_refused_power_on_is_a_409_with_vspheres_numbers(api, lab):
    lab.pool("P", memory=fixed(4096))
    lab.vm("first", "P", on=True, memory=reserve(3072))
    vm = lab.vm("second", "P", memory=reserve(2048))
    before = database_state()

    response = post(api, f"/api/vms/{vm.pk}/power-on/")

    assert response.status_code == 409
    assert response.json() == {
        "error": "Insufficient resources to satisfy configured reservation: "
        '"P" has 1024 MB unreserved memory, the operation needs 2048 MB',
        "fault": "InsufficientResourcesFault",
        "pool": "P",
        "resource": "memory",
        "requested": 2048,
        "unreserved": 1024,
    }
    assert database_state() == before
    assert api.get(f"/api/vms/{vm.pk}/").json()["powerState"] == "poweredOff"


def test_a_running_vms_reservation_is_readmitted_on_patch(api, lab):
    lab.pool("P", memory=fixed(4096))
    vm = lab.vm("v", "P", on=True, memory=reserve(1024), memory_mb=8192)
    before = database_state()

    refused = patch(api, f"/api/vms/{vm.pk}/", {"memoryAllocation": {"reservation": 4097}})
    assert refused.status_code == 409
    assert (refused.json()["requested"], refused.json()["unreserved"]) == (3073, 3072)
    assert database_state() == before

    admitted = patch(api, f"/api/vms/{vm.pk}/", {"memoryAllocation": {"reservation": 4096}})
    assert admitted.status_code == 200, admitted.content
    assert admitted.json()["memoryAllocation"]["reservation"] == 4096


def test_vms_and_pools_move_into_a_pool(api, lab):
    target = lab.pool("TARGET", memory=fixed(3072))
    mover = lab.pool("MOVER", memory=fixed(1024))
    vm = lab.vm("v", on=True, memory=reserve(2048))

    response = post(
        api, f"/api/pools/{target.pk}/move-into/", {"vms": [vm.pk], "pools": [mover.pk]}
    )

    assert response.status_code == 200, response.content
    assert response.json()["id"] == target.pk
    assert response.json()["runtime"]["memory"]["reservationUsed"] == 3072
    assert VirtualMachine.objects.get(pk=vm.pk).resource_pool_id == target.pk
    assert ResourcePool.objects.get(pk=mover.pk).parent_id == target.pk


def test_a_refused_move_is_a_409_and_moves_nothing(api, lab):
    target = lab.pool("TARGET", memory=fixed(2048))
    small = lab.vm("small", on=True, memory=reserve(1024))
    big = lab.vm("big", on=True, memory=reserve(1025))
    before = database_state()

    response = post(api, f"/api/pools/{target.pk}/move-into/", {"vms": [small.pk, big.pk]})

    assert response.status_code == 409
    assert {k: response.json()[k] for k in ("pool", "requested", "unreserved")} == {
        "pool": "TARGET",
        "requested": 2049,
        "unreserved": 2048,
    }
    assert database_state() == before


def test_moves_that_make_no_sense_are_400_and_move_nothing(api, lab):
    top = lab.pool("TOP")
    low = lab.pool("LOW", "TOP")
    other = Lab(name="esxi-b")
    theirs = other.vm("theirs")
    before = database_state()

    cases = [
        (low.pk, {"pools": [top.pk]}, "error"),  # below itself
        (top.pk, {"pools": [top.pk]}, "error"),  # into itself
        (top.pk, {"pools": [lab.root.pk]}, "error"),  # the root
        (top.pk, {"vms": [theirs.pk]}, "vms"),  # across hosts
        (top.pk, {"vms": [424242]}, "vms"),  # unknown
        (top.pk, {"vms": [2**63]}, "vms"),  # beyond any id
        (top.pk, {"pools": [-1]}, "pools"),
        (top.pk, {}, "vms"),  # nothing to move
        (top.pk, {"vms": "all"}, "vms"),
        (top.pk, {"vms": [], "pools": [], "colour": 1}, "colour"),
    ]
    for target, body, field in cases:
        response = post(api, f"/api/pools/{target}/move-into/", body)
        assert_bad_request(response, *([] if field == "error" else [field]))
    assert database_state() == before


def test_deleting_a_pool_hands_its_children_to_the_parent(api, lab):
    pool = lab.pool("P")
    vm = lab.vm("v", "P")
    assert api.delete(f"/api/pools/{pool.pk}/").status_code == 204
    assert VirtualMachine.objects.get(pk=vm.pk).resource_pool_id == lab.root.pk
    before = database_state()
    response = api.delete(f"/api/pools/{lab.root.pk}/")
    assert_bad_request(response)
    assert "cannot be deleted" in response.json()["error"]
    assert database_state() == before


def test_the_root_pool_cannot_be_changed(api, lab):
    before = database_state()
    response = patch(api, f"/api/pools/{lab.root.pk}/", {"memoryAllocation": {"reservation": 1}})
    assert_bad_request(response)
    assert "root resource pool" in response.json()["error"]
    assert database_state() == before


def test_a_host_is_resized_and_its_root_pool_follows(api, lab):
    response = patch(
        api,
        f"/api/hosts/{lab.host.pk}/",
        {"memoryMB": 32768, "advancedSettings": {"Mem.ShareScanTime": 30}},
    )
    assert response.status_code == 200, response.content
    assert response.json()["advancedSettings"]["Mem.ShareScanTime"] == 30
    assert api.get(f"/api/pools/{lab.root.pk}/").json()["memoryAllocation"]["reservation"] == 32488


def test_a_host_cannot_shrink_below_its_reservations(api, lab):
    lab.pool("BIG", memory=fixed(12168))  # what a 12288 MB host leaves for VMs
    before = database_state()
    response = patch(api, f"/api/hosts/{lab.host.pk}/", {"memoryMB": 12287})
    assert response.status_code == 409
    assert (response.json()["pool"], response.json()["resource"]) == ("Resources", "memory")
    assert database_state() == before


# --------------------------------------------------------------------------- guest operations


def test_guest_operations_are_queued_for_a_running_vm(api, lab):
    vm = lab.vm("v", on=True, memory_mb=2048)

    allocate = post(api, f"/api/vms/{vm.pk}/guest/", {"action": "allocate", "mb": 512})
    write = post(api, f"/api/vms/{vm.pk}/guest/", {"action": "write", "fraction": 0.25})

    assert allocate.status_code == write.status_code == 202
    body = allocate.json()
    assert {k: body[k] for k in ("vm", "action", "amount", "status")} == {
        "vm": vm.pk,
        "action": "allocate",
        "amount": 512.0,
        "status": "queued",
    }
    assert list(
        GuestOperation.objects.values_list("action", "amount", "requested_by", "applied_at")
    ) == [
        ("allocate", 512.0, "admin", None),
        ("write", 0.25, "admin", None),
    ]


def test_guest_operations_refuse_bad_requests(api, lab):
    running = lab.vm("running", on=True, memory_mb=2048)
    stopped = lab.vm("stopped", memory_mb=2048)
    before = database_state()

    response = post(api, f"/api/vms/{stopped.pk}/guest/", {"action": "allocate", "mb": 512})
    assert_bad_request(response)
    assert "powered off" in response.json()["error"]
    cases = [
        ({"action": "explode", "mb": 1}, "action"),
        ({"action": "allocate"}, "mb"),
        ({"action": "allocate", "mb": 0}, "mb"),
        ({"action": "allocate", "mb": -5}, "mb"),
        ({"action": "allocate", "mb": 2049}, "mb"),  # more than the VM has
        ({"action": "free", "mb": "lots"}, "mb"),
        ({"action": "allocate", "mb": 1.5}, "mb"),
        ({"action": "write", "fraction": 1.5}, "fraction"),
        ({"action": "write", "fraction": "half"}, "fraction"),
        ({"action": "write", "fraction": "0.5"}, "fraction"),  # a number, not a string
        ({"action": "write", "fraction": True}, "fraction"),
        ({"action": "write", "fraction": 0.5, "mb": 3}, "mb"),
        ({"action": "allocate", "mb": 5, "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        assert_bad_request(post(api, f"/api/vms/{running.pk}/guest/", body), field)
    assert database_state() == before


# ------------------------------------------------------------------------- bad input writes nothing


def test_bad_pool_input_is_a_400_naming_the_field_and_writes_nothing(api, lab):
    other = Lab(name="esxi-b")
    root = lab.root.pk
    lab.pool("Taken")
    before = database_state()

    cases = [
        (
            {"name": "X", "parent": root, "memoryAllocation": {"reservation": -1}},
            "memoryAllocation.reservation",
        ),
        (
            {"name": "X", "parent": root, "memoryAllocation": {"reservation": "lots"}},
            "memoryAllocation.reservation",
        ),
        (
            {"name": "X", "parent": root, "memoryAllocation": {"reservation": 1.5}},
            "memoryAllocation.reservation",
        ),
        (
            {"name": "X", "parent": root, "cpuAllocation": {"reservation": 2**40}},
            "cpuAllocation.reservation",
        ),
        (
            {"name": "X", "parent": root, "memoryAllocation": {"limit": -2}},
            "memoryAllocation.limit",
        ),
        (
            {"name": "X", "parent": root, "memoryAllocation": {"reservation": 2048, "limit": 1024}},
            "memoryAllocation.limit",
        ),
        (
            {"name": "X", "parent": root, "cpuAllocation": {"shares": {"level": "huge"}}},
            "cpuAllocation.shares.level",
        ),
        (
            {
                "name": "X",
                "parent": root,
                "cpuAllocation": {"shares": {"level": "custom", "shares": 0}},
            },
            "cpuAllocation.shares.shares",
        ),
        (
            {"name": "X", "parent": root, "cpuAllocation": {"expandableReservation": "perhaps"}},
            "cpuAllocation.expandableReservation",
        ),
        (
            {"name": "X", "parent": root, "memoryAllocation": {"reserve": 5}},
            "memoryAllocation.reserve",
        ),
        ({"name": "X", "parent": 424242}, "parent"),
        ({"name": "X", "parent": "root"}, "parent"),
        ({"name": "X"}, "parent"),
        ({"parent": root}, "name"),
        ({"name": "", "parent": root}, "name"),
        ({"name": "x" * 81, "parent": root}, "name"),
        ({"name": "Taken", "parent": root}, "name"),
        ({"name": "X", "parent": root, "colour": "red"}, "colour"),
        ({"name": "X", "parent": root, "memoryAllocation": None}, "memoryAllocation"),
        ({"name": "X", "parent": root, "memoryAllocation": [1]}, "memoryAllocation"),
    ]
    for body, field in cases:
        assert_bad_request(post(api, "/api/pools/", body), field)
    assert database_state() == before
    assert other.host.pools.count() == 1


def test_bad_pool_changes_are_a_400_and_write_nothing(api, lab):
    pool = lab.pool("P", memory=expandable(1024))
    other = lab.pool("Q")
    before = database_state()

    cases = [
        ({"memoryAllocation": {"limit": 1023}}, "memoryAllocation.limit"),
        ({"memoryAllocation": {"reservation": -5}}, "memoryAllocation.reservation"),
        ({"name": "Q"}, "name"),
        ({"name": " "}, "name"),
        ({"parent": other.pk}, "parent"),  # moving is move-into's job
        ({"runtime": {}, "bogus": 1}, "bogus"),
    ]
    for body, field in cases:
        assert_bad_request(patch(api, f"/api/pools/{pool.pk}/", body), field)
    assert database_state() == before


def test_bad_vm_input_is_a_400_naming_the_field_and_writes_nothing(api, lab):
    other = Lab(name="esxi-b")
    theirs = other.pool("Theirs")
    host = lab.host.pk
    before = database_state()

    def vm(**fields):
        return {"name": "v", "host": host, **fields}

    cases = [
        (vm(memoryMB=2048, memoryAllocation={"reservation": 2049}), "memoryAllocation.reservation"),
        (vm(memoryMB=-5), "memoryMB"),
        (vm(memoryMB="2 GB"), "memoryMB"),
        (vm(memoryMB=0), "memoryMB"),
        (vm(numCPUs=0), "numCPUs"),
        (vm(numCPUs=True), "numCPUs"),
        (vm(guestOS="beos"), "guestOS"),
        (vm(mmuMode="quantum"), "mmuMode"),
        (vm(resourcePool=theirs.pk), "resourcePool"),
        (vm(resourcePool=424242), "resourcePool"),
        (vm(host=424242), "host"),
        ({"host": host}, "name"),
        (vm(name="v" * 81), "name"),
        (vm(powerState="poweredOn", colour="red"), "colour"),
        (vm(cpuAllocation={"reservation": 100, "limit": 50}), "cpuAllocation.limit"),
    ]
    for body, field in cases:
        assert_bad_request(post(api, "/api/vms/", body), field)
    assert database_state() == before


def test_bad_vm_changes_are_a_400_and_write_nothing(api, lab):
    lab.pool("P")
    running = lab.vm("running", on=True, memory_mb=2048, mmu_mode="hardware")
    stopped = lab.vm("stopped", memory_mb=2048, memory=reserve(2048))
    before = database_state()

    cases = [
        (stopped, {"memoryMB": 1024}, "memoryAllocation.reservation"),  # below its reservation
        (running, {"memoryMB": 4096}, "memoryMB"),  # needs power off
        (running, {"name": "stopped"}, "name"),
        (
            running,
            {"resourcePool": lab.get_pool("P").pk},
            "resourcePool",
        ),  # moving is move-into's job
        (running, {"memoryAllocation": {"limit": -7}}, "memoryAllocation.limit"),
    ]
    for vm, body, field in cases:
        assert_bad_request(patch(api, f"/api/vms/{vm.pk}/", body), field)
    response = patch(api, f"/api/hosts/{lab.host.pk}/", {"hardwareMmu": False})
    assert_bad_request(response, "hardwareMmu")
    assert "running" in response.json()["fields"]["hardwareMmu"]
    assert database_state() == before


def test_bad_host_changes_are_a_400_and_write_nothing(api, lab):
    Lab(name="esxi-b")
    before = database_state()
    cases = [
        ({"memoryMB": 100}, "memoryMB"),
        ({"cpuMhz": "fast"}, "cpuMhz"),
        ({"name": "esxi-b"}, "name"),
        ({"advancedSettings": {"Mem.ShareScanTime": 5}}, "advancedSettings.Mem.ShareScanTime"),
        (
            {"advancedSettings": {"Mem.ShareForceSalting": 3}},
            "advancedSettings.Mem.ShareForceSalting",
        ),
        ({"advancedSettings": {"Mem.Bogus": 1}}, "advancedSettings.Mem.Bogus"),
        (
            {"advancedSettings": {"Mem.AllocGuestLargePage": 2}},
            "advancedSettings.Mem.AllocGuestLargePage",
        ),
        (
            {"advancedSettings": {"Mem.AllocGuestLargePage": "x"}},
            "advancedSettings.Mem.AllocGuestLargePage",
        ),
        ({"rootPool": 5, "colour": 1}, "colour"),
    ]
    for body, field in cases:
        response = patch(api, f"/api/hosts/{lab.host.pk}/", body)
        assert response.status_code == 400, (body, response.content)
        body = response.json()
        assert set(body) == {"error", "fields"} and body["error"]
        # "advancedSettings.Mem.X": the setting's own name holds dots
        head, _, rest = field.partition(".")
        assert head in body["fields"], (field, body)
        if rest:
            assert rest in body["fields"][head], (field, body)
    assert database_state() == before


def test_malformed_json_is_a_400(api, lab):
    before = database_state()
    for url in ("/api/pools/", "/api/vms/", f"/api/pools/{lab.root.pk}/move-into/"):
        response = api.post(url, data='{"name": "x", ', content_type="application/json")
        assert response.status_code == 400
        assert "Malformed request body" in response.json()["error"]
    response = api.post("/api/pools/", data='{"name": NaN}', content_type="application/json")
    assert response.status_code == 400
    response = post(api, "/api/pools/", ["not", "an", "object"])
    assert_bad_request(response)
    assert database_state() == before


def test_text_that_is_not_unicode_is_a_400(api, lab):
    """JSON may carry a lone surrogate ("\\ud800"); no UTF-8 database or response can hold one."""
    before = database_state()
    root = str(lab.root.pk)
    for raw in (
        '{"name": "bad \\ud800 name", "parent": ROOT}',
        '{"name": "X", "parent": ROOT, "\\udfff": 1}',
        '{"name": "X", "parent": ROOT, "cpuAllocation": {"shares": {"level": "\\ud800"}}}',
    ):
        response = api.post(
            "/api/pools/", data=raw.replace("ROOT", root), content_type="application/json"
        )
        assert response.status_code == 400, raw
        assert set(response.json()) == {"error", "fields"}
    assert database_state() == before


# --------------------------------------------------------------------------- who may do what


def test_anonymous_requests_get_a_json_refusal_not_a_login_page(client, lab):
    vm = lab.vm("v")
    for method, url in (
        ("get", "/api/hosts/"),
        ("get", "/api/pools/"),
        ("get", f"/api/vms/{vm.pk}/"),
        ("post", f"/api/vms/{vm.pk}/power-on/"),
    ):
        response = getattr(client, method)(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == 'Basic realm="api"', url  # what a script answers
        assert "Location" not in response, url
        assert set(response.json()) == {"error"}, url
    schema = client.get("/api/schema/")
    assert (schema.status_code, schema["WWW-Authenticate"]) == (401, 'Basic realm="api"')
    assert VirtualMachine.objects.get(pk=vm.pk).power_state == "poweredOff"


def test_reading_needs_the_view_permission(client, lab, viewer, django_user_model):
    nobody = django_user_model.objects.create_user("nobody", password=PASSWORD)
    client.force_login(nobody)
    assert client.get("/api/pools/").status_code == 403
    client.force_login(viewer)
    assert client.get("/api/pools/").status_code == 200
    assert client.get(f"/api/hosts/{lab.host.pk}/").status_code == 200


def test_a_viewer_cannot_write(client, lab, viewer):
    vm = lab.vm("v", memory_mb=2048)
    client.force_login(viewer)
    before = database_state()

    attempts = [
        post(client, f"/api/vms/{vm.pk}/power-on/"),
        post(client, "/api/pools/", {"name": "X", "parent": lab.root.pk}),
        patch(client, f"/api/pools/{lab.root.pk}/", {"name": "Y"}),
        patch(client, f"/api/vms/{vm.pk}/", {"workload": "batch"}),
        patch(client, f"/api/hosts/{lab.host.pk}/", {"memoryMB": 8192}),
        post(client, f"/api/pools/{lab.root.pk}/move-into/", {"vms": [vm.pk]}),
        post(client, f"/api/vms/{vm.pk}/guest/", {"action": "allocate", "mb": 1}),
        client.delete(f"/api/vms/{vm.pk}/"),
    ]

    assert [r.status_code for r in attempts] == [403] * len(attempts)
    assert all(set(r.json()) == {"error"} for r in attempts)
    assert database_state() == before


def test_an_operator_with_change_permission_can_write(client, lab, operator):
    vm = lab.vm("v", memory_mb=2048)
    client.force_login(operator)
    assert post(client, f"/api/vms/{vm.pk}/power-on/").status_code == 200
    assert post(client, "/api/pools/", {"name": "X", "parent": lab.root.pk}).status_code == 201


def basic(username: str, password: str) -> dict:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def test_http_basic_auth_works_for_scripts(lab, operator):
    client = Client(enforce_csrf_checks=True)  # a script has no CSRF cookie and needs none
    vm = lab.vm("v")

    assert client.get("/api/vms/", **basic("operator", PASSWORD)).status_code == 200
    response = client.post(f"/api/vms/{vm.pk}/power-on/", **basic("operator", PASSWORD))
    assert (response.status_code, response.json()["powerState"]) == (200, "poweredOn")
    wrong = client.get("/api/vms/", **basic("operator", "wrong"))
    assert (wrong.status_code, wrong["WWW-Authenticate"]) == (401, 'Basic realm="api"')
    assert set(wrong.json()) == {"error"}


def test_session_writes_need_the_csrf_token(lab, operator):
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")  # the login page hands out the CSRF cookie, as to a browser
    token = client.cookies["csrftoken"].value
    client.force_login(operator)
    vm = lab.vm("v")
    before = database_state()

    refused = client.post(f"/api/vms/{vm.pk}/power-on/")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]
    assert database_state() == before

    accepted = client.post(f"/api/vms/{vm.pk}/power-on/", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["powerState"] == "poweredOn"


def test_the_openapi_schema_is_served_to_a_logged_in_user(client, viewer):
    client.force_login(viewer)
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    for path in (
        "/api/pools/",
        "/api/pools/{id}/move-into/",
        "/api/vms/{id}/power-on/",
        "/api/vms/{id}/guest/",
    ):
        assert path in schema["paths"], path
