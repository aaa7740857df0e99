"""The JSON API offers every guest OS preset of the engine, and the vSphere API names each
(issue 13): one list, the engine's."""

import json

import pytest

from hostsim.engine import GUEST_OS_PRESETS
from vsphere.inventory import GUEST_IDS

pytestmark = pytest.mark.django_db


def _create(api, lab, name: str, guest_os):
    body = {"name": name, "host": lab.host.pk, "memoryMB": 1024, "guestOS": guest_os}
    return api.post("/api/vms/", data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("guest_os", list(GUEST_OS_PRESETS))
def test_every_guest_os_version_can_be_chosen_through_the_api(api, lab, guest_os):
    response = _create(api, lab, f"vm-{guest_os}", guest_os)
    assert response.status_code == 201, response.content
    assert response.json()["guestOS"] == guest_os


@pytest.mark.parametrize("wrong", ["rhel8", "Linux", "", 9])
def test_an_unknown_guest_os_is_a_400_naming_the_field(api, lab, wrong):
    response = _create(api, lab, "vm", wrong)
    assert response.status_code == 400, response.content
    assert "guestOS" in response.json()["fields"]


def test_every_guest_os_has_a_vsphere_guest_id():
    assert set(GUEST_IDS) == set(GUEST_OS_PRESETS)
    assert GUEST_IDS["win2022"][0] == "windows2019srvNext_64Guest"
    assert GUEST_IDS["rhel9"][0] == GUEST_IDS["linux"][0] == "rhel9_64Guest"
