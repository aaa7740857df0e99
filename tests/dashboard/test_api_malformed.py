"""Malformed requests get a clear 4xx in DESIGN section 7's shapes and change nothing.

Deep nesting, numbers too large for any field, JSON types that are not the field's own (no
coercion: 1.5 is not pool 1, "yes" is not true, 1e400 is not the name "inf"), fields the server
sets, bodies over the size limit, and a static file that does not exist.
"""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from tests.dashboard.test_api import assert_bad_request
from tests.pools.conftest import Lab, database_state

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

ENDPOINTS = ("/api/pools/", "/api/vms/", "/api/hosts/", "move-into", "guest", "advance")


@pytest.fixture
def api(admin_user) -> APIClient:
    client = APIClient(raise_request_exception=False)  # a 500 is a response to assert on
    client.force_login(admin_user)
    return client


@pytest.fixture
def running(lab) -> Lab:
    lab.pool("P")
    lab.vm("on", "P", on=True, memory_mb=2048)
    return lab


def url_of(endpoint: str, lab: Lab) -> str:
    return {
        "move-into": f"/api/pools/{lab.get_pool('P').pk}/move-into/",
        "guest": f"/api/vms/{lab.get_vm('on').pk}/guest/",
        "advance": f"/api/hosts/{lab.host.pk}/advance/",
    }.get(endpoint, endpoint)


def send(api, url: str, raw: str, method: str = "post"):
    return getattr(api, method)(url, data=raw, content_type="application/json")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("depth", [65, 1000, 100_000])
def test_json_nested_too_deeply_is_a_400_on_every_endpoint(api, running, endpoint, depth):
    before = database_state()
    for raw in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth, "[" * depth):
        response = send(api, url_of(endpoint, running), raw)
        body = assert_bad_request(response)
        assert "nest more than 64 levels" in body["error"] or "pair up" in body["error"], body
    assert database_state() == before


def test_json_nested_64_deep_is_parsed_and_judged_by_the_serializer(api, running):
    raw = '{"name": ' + "[" * 63 + "]" * 63 + ', "parent": 1}'
    body = assert_bad_request(send(api, "/api/pools/", raw), "name")
    assert "nest" not in body["error"]


def test_brackets_inside_strings_do_not_count_as_nesting(api, running):
    name = "[" * 70 + '\\"{' * 70
    raw = f'{{"name": "{name}", "parent": {running.root.pk}}}'
    response = send(api, "/api/pools/", raw)
    assert_bad_request(response, "name")  # too long for a name, not too deep
    assert "no more than 80 characters" in response.json()["fields"]["name"]


@pytest.mark.parametrize("number", ["1e999", "-1e400", "1" * 50, "-" + "9" * 5000, "1e308"])
def test_numbers_too_large_for_an_id_are_a_400_naming_the_field(api, running, number):
    before = database_state()
    root, host = running.root.pk, running.host.pk
    cases = [
        ("/api/pools/", f'{{"name": "x", "parent": {number}}}', "parent"),
        ("/api/vms/", f'{{"name": "x", "host": {number}}}', "host"),
        ("/api/vms/", f'{{"name": "x", "host": {host}, "resourcePool": {number}}}', "resourcePool"),
        ("/api/vms/", f'{{"name": "x", "host": {host}, "memoryMB": {number}}}', "memoryMB"),
        (
            "/api/pools/",
            f'{{"name": "x", "parent": {root}, "memoryAllocation": {{"limit": {number}}}}}',
            "memoryAllocation.limit",
        ),
        (url_of("move-into", running), f'{{"vms": [{number}]}}', "vms"),
        (url_of("guest", running), f'{{"action": "write", "fraction": {number}}}', "fraction"),
        (url_of("guest", running), f'{{"action": "allocate", "mb": {number}}}', "mb"),
    ]
    for url, raw, field in cases:
        assert_bad_request(send(api, url, raw), field)
    assert database_state() == before


def test_nan_and_infinity_are_not_json(api, running):
    for constant in ("NaN", "Infinity", "-Infinity"):
        raw = f'{{"name": "x", "parent": {constant}}}'
        body = assert_bad_request(send(api, "/api/pools/", raw))
        assert "Malformed request body" in body["error"]


def test_ids_must_be_json_integers(api, running):
    """A float, a string or a boolean is not an id, even when it would round to one."""
    before = database_state()
    root, host, pool = running.root.pk, running.host.pk, running.get_pool("P").pk
    for wrong in (root + 0.5, float(root), str(root), True, [root], {"id": root}):
        assert_bad_request(post(api, "/api/pools/", {"name": "x", "parent": wrong}), "parent")
    for wrong in (host + 0.9, float(host), str(host), True):
        assert_bad_request(post(api, "/api/vms/", {"name": "x", "host": wrong}), "host")
        body = {"name": "x", "host": host, "resourcePool": wrong}
        assert_bad_request(post(api, "/api/vms/", body), "resourcePool")
    vm = running.get_vm("on").pk
    for wrong in (vm + 0.5, str(vm), True):
        assert_bad_request(post(api, f"/api/pools/{pool}/move-into/", {"vms": [wrong]}), "vms")
    assert database_state() == before


def test_flags_must_be_json_booleans(api, running):
    before = database_state()
    vm, host, root = running.get_vm("on").pk, running.host.pk, running.root.pk
    for wrong in ("yes", "true", "false", 1, 0, "on", [True]):
        assert_bad_request(patch(api, f"/api/vms/{vm}/", {"pshareEnabled": wrong}), "pshareEnabled")
        body = {"name": "x", "host": host, "pshareEnabled": wrong}
        assert_bad_request(post(api, "/api/vms/", body), "pshareEnabled")
        assert_bad_request(patch(api, f"/api/hosts/{host}/", {"hardwareMmu": wrong}), "hardwareMmu")
        body = {"name": "x", "parent": root, "cpuAllocation": {"expandableReservation": wrong}}
        assert_bad_request(post(api, "/api/pools/", body), "cpuAllocation.expandableReservation")
    assert database_state() == before


def test_names_and_choices_must_be_json_strings(api, running):
    """1e400 would become a VM named "inf", 5 a pool named "5"; "1" is not the setting 1."""
    before = database_state()
    vm, host, root = running.get_vm("on").pk, running.host.pk, running.root.pk
    raw = f'{{"name": 1e400, "host": {host}}}'
    assert_bad_request(send(api, "/api/vms/", raw), "name")
    for wrong in (5, 1.5, True, ["x"], {"x": 1}):
        assert_bad_request(post(api, "/api/pools/", {"name": wrong, "parent": root}), "name")
        assert_bad_request(patch(api, f"/api/vms/{vm}/", {"pshareSalt": wrong}), "pshareSalt")
        assert_bad_request(patch(api, f"/api/hosts/{host}/", {"name": wrong}), "name")
    for field, wrong in (("workload", 1), ("mmuMode", True), ("guestOS", ["linux"])):
        assert_bad_request(patch(api, f"/api/vms/{vm}/", {field: wrong}), field)
    salting = {"advancedSettings": {"Mem.ShareForceSalting": "1"}}
    body = assert_bad_request(patch(api, f"/api/hosts/{host}/", salting))
    assert "Mem.ShareForceSalting" in body["fields"]["advancedSettings"]
    level = {"name": "x", "parent": root, "memoryAllocation": {"shares": {"level": 1}}}
    assert_bad_request(post(api, "/api/pools/", level), "memoryAllocation.shares.level")
    assert database_state() == before


def test_read_only_fields_sent_on_write_are_a_400_naming_them(api, running):
    before = database_state()
    vm, host, pool = running.get_vm("on"), running.host.pk, running.get_pool("P").pk

    response = patch(api, f"/api/vms/{vm.pk}/", {"powerState": "poweredOff"})
    assert "power-off" in assert_bad_request(response, "powerState")["fields"]["powerState"]
    assert_bad_request(patch(api, f"/api/vms/{vm.pk}/", {"id": 99, "workload": "batch"}), "id")
    response = patch(api, f"/api/pools/{pool}/", {"runtime": {}, "host": host})
    assert_bad_request(response, "runtime", "host")
    assert_bad_request(patch(api, f"/api/hosts/{host}/", {"rootPool": 1}), "rootPool")
    body = {"name": "x", "host": host, "powerState": "poweredOn"}
    assert_bad_request(post(api, "/api/vms/", body), "powerState")
    assert database_state() == before


def test_the_schema_leaves_read_only_fields_out_of_request_bodies(api):
    schema = json.loads(api.get("/api/schema/", {"format": "json"}).content)
    components = schema["components"]["schemas"]
    assert "powerState" not in components["VmRequest"]["properties"]
    assert "powerState" in components["Vm"]["properties"]
    assert "runtime" not in components["PoolRequest"]["properties"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_body_over_the_size_limit_is_a_413(api, running, settings, endpoint):
    before = database_state()
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = json.dumps({"name": "x" * (limit + 1)})
    response = send(api, url_of(endpoint, running), raw)
    assert response.status_code == 413, response.content
    assert set(response.json()) == {"error"} and str(limit) in response.json()["error"]
    # Django keeps multipart file parts out of DATA_UPLOAD_MAX_MEMORY_SIZE; the API does not.
    upload = SimpleUploadedFile("big.bin", b"x" * (limit + 1))
    form = api.post(url_of(endpoint, running), {"name": "x", "upload": upload}, format="multipart")
    assert form.status_code == 413, form.content
    assert set(form.json()) == {"error"}
    assert database_state() == before


def test_a_missing_static_file_is_a_404_for_anyone(db):
    client = Client(raise_request_exception=False)
    for path in ("/static/no-such-file.js", "/static/vendor/no-such.js", "/static/vendor/"):
        assert client.get(path).status_code == 404, path
    assert client.get("/static/vendor/plotly.min.js").status_code == 200


def post(api, url: str, data):
    return api.post(url, data=json.dumps(data), content_type="application/json")


def patch(api, url: str, data):
    return api.patch(url, data=json.dumps(data), content_type="application/json")
