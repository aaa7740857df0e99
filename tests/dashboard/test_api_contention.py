"""The JSON API's side of memory under contention: the Mem.* settings of DESIGN.md 4b, the
balloon driver, and a running VM's memory allocation changed in place."""

import json

import pytest
from rest_framework.test import APIClient

from hostsim.models import Host, VirtualMachine
from tests.pools.conftest import database_state, reserve

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin_user) -> APIClient:
    client = APIClient()
    client.force_login(admin_user)
    return client


def patch(client, url: str, data):
    return client.patch(url, data=json.dumps(data), content_type="application/json")


def test_contention_settings_are_read_and_changed_by_their_esxi_names(api, lab):
    url = f"/api/hosts/{lab.host.pk}/"
    version = Host.objects.get(pk=lab.host.pk).config_version

    response = patch(api, url, {"advancedSettings": {"Mem.IdleTax": 0, "Mem.BalancePeriod": 30}})

    assert response.status_code == 200, response.content
    settings = response.json()["advancedSettings"]
    assert (settings["Mem.IdleTax"], settings["Mem.BalancePeriod"]) == (0, 30)
    assert settings["Mem.CtlMaxPercent"] == 65  # the others keep their values
    host = Host.objects.get(pk=lab.host.pk)
    assert host.advanced_settings == {
        "Mem.IdleTax": 0,
        "Mem.BalancePeriod": 30,
    }  # only what differs
    assert host.config_version > version  # the simulation re-reads the host

    back = patch(api, url, {"advancedSettings": {"Mem.IdleTax": 75}})  # back to ESXi's default
    assert back.json()["advancedSettings"]["Mem.IdleTax"] == 75
    assert Host.objects.get(pk=lab.host.pk).advanced_settings == {"Mem.BalancePeriod": 30}


@pytest.mark.parametrize(
    ("changes", "name", "words"),
    [
        ({"Mem.IdleTax": 100}, "Mem.IdleTax", "less than or equal to 99"),
        ({"Mem.CtlMaxPercent": -1}, "Mem.CtlMaxPercent", "greater than or equal to 0"),
        ({"Mem.MemZipEnable": True}, "Mem.MemZipEnable", "integer"),
        ({"Mem.BalancePeriod": "15"}, "Mem.BalancePeriod", "integer"),
        ({"Mem.AllocGuestLargePages": 1}, "Mem.AllocGuestLargePages", "Unknown setting"),
    ],
)
def test_a_bad_setting_is_refused_by_name_and_nothing_changes(api, lab, changes, name, words):
    before = database_state()
    response = patch(api, f"/api/hosts/{lab.host.pk}/", {"advancedSettings": changes})
    assert response.status_code == 400, response.content
    message = response.json()["fields"]["advancedSettings"][name]
    assert words in json.dumps(message), message
    assert database_state() == before


def test_settings_must_be_an_object(api, lab):
    response = patch(api, f"/api/hosts/{lab.host.pk}/", {"advancedSettings": ["Mem.IdleTax"]})
    assert response.status_code == 400
    assert "advancedSettings" in response.json()["fields"]


def test_the_balloon_driver_is_a_vm_setting(api, lab):
    vm = lab.vm("tools", on=True)
    response = patch(api, f"/api/vms/{vm.pk}/", {"balloonDriver": False})
    assert response.status_code == 200, response.content
    assert response.json()["balloonDriver"] is False
    assert VirtualMachine.objects.get(pk=vm.pk).balloon_driver is False
    assert patch(api, f"/api/vms/{vm.pk}/", {"balloonDriver": "no"}).status_code == 400


def test_a_running_vms_memory_allocation_changes_in_place_and_is_admission_checked(api, lab):
    vm = lab.vm("db", on=True, memory_mb=4096)
    version = VirtualMachine.objects.get(pk=vm.pk).config_version
    url = f"/api/vms/{vm.pk}/"

    changed = patch(api, url, {"memoryAllocation": {"limit": 1024, "shares": {"level": "high"}}})

    assert changed.status_code == 200, changed.content
    memory = changed.json()["memoryAllocation"]
    assert (memory["limit"], memory["shares"]) == (1024, {"level": "high", "shares": 20 * 4096})
    running = VirtualMachine.objects.get(pk=vm.pk)
    assert running.powered_on and running.config_version > version


def test_a_reservation_above_what_the_pool_has_left_is_refused_while_running(api, lab):
    lab.vm("big", on=True, memory_mb=16384, memory=reserve(lab.root.memory_reservation - 512))
    small = lab.vm("small", on=True, memory_mb=2048)
    before = database_state()
    refused = patch(api, f"/api/vms/{small.pk}/", {"memoryAllocation": {"reservation": 1024}})
    assert refused.status_code == 409, refused.content
    body = refused.json()
    assert (body["fault"], body["resource"], body["requested"], body["unreserved"]) == (
        "InsufficientResourcesFault",
        "memory",
        1024,
        512,
    )
    assert database_state() == before
