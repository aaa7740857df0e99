"""The Memory map tab (issue 11): pages, the JSON they refresh from, and the path from the
worker's engine through Redis (hostsim.layers) to the web process."""

import pytest
from dashboard_factories import make_host, make_vm

from dashboard.counters import LARGE_PAGES_RULE
from hostsim import guest_operations, runtime
from pools import services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture
def toucher_vm(clean_redis):
    host = make_host(memory_mb=4096)
    vm = make_vm(host, "toucher-01", memory_mb=1024, vcpus=1, workload="toucher")
    yield vm
    runtime.forget(host.pk)


def _data(client, vm):
    response = client.get(f"/vms/{vm.pk}/memory-map/data/")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_map_is_drawn_from_the_tick_after_someone_asks_for_it(client, operator, toucher_vm):
    client.force_login(operator)
    runtime.tick(toucher_vm.host_id)
    first = _data(client, toucher_vm)
    assert first["ready"] is False and "next sample" in first["message"]
    runtime.tick(toucher_vm.host_id)
    data = _data(client, toucher_vm)
    assert data["ready"] and data["poweredOn"]
    assert (
        len(data["map"]["size"]) == 1024 and sum(data["map"]["size"]) == data["pages"] == 1024 * 256
    )
    totals = data["map"]["totals"]
    mapped = ("guest_free", "private", "shared", "zero", "large")  # "large": 2 MB-backed pages
    assert sum(totals[state] for state in mapped) * 4 == data["counters"]["mem.granted"]
    assert [p["name"] for p in data["processes"]] == ["toucher"]
    assert (
        data["mmu"]["current"]["mode"] == "hardware" and data["mmu"]["other"]["mode"] == "software"
    )
    assert sum(data["machine"]["size"]) == data["machine"]["frames"] == 4096 * 256


def test_an_allocation_shows_as_virtual_memory_first_then_resident(client, operator, toucher_vm):
    client.force_login(operator)
    _data(client, toucher_vm)
    runtime.tick(toucher_vm.host_id)
    before = _data(client, toucher_vm)["counters"]
    guest_operations.request_guest_operation(toucher_vm, "allocate", 512)
    runtime.tick(toucher_vm.host_id)  # reserved, and touched at 16 MB/s for 20 s: 320 MB
    during = _data(client, toucher_vm)["counters"]
    assert during["lab.guest.virtual"] - before["lab.guest.virtual"] == 512 * 1024
    assert during["lab.guest.resident"] - before["lab.guest.resident"] == 320 * 1024
    runtime.tick(toucher_vm.host_id)
    after = _data(client, toucher_vm)
    assert after["counters"]["lab.guest.resident"] - before["lab.guest.resident"] == 512 * 1024
    toucher = after["processes"][0]
    assert toucher["virtual"] == toucher["resident"] == 512 * 1024


def test_the_host_map_names_the_vms_by_their_database_ids(client, operator, toucher_vm):
    client.force_login(operator)
    other = make_vm(toucher_vm.host, "db-01", memory_mb=512, workload="database")
    client.get(f"/hosts/{toucher_vm.host_id}/memory-map/data/")
    runtime.tick(toucher_vm.host_id)
    data = client.get(f"/hosts/{toucher_vm.host_id}/memory-map/data/").json()
    assert data["ready"] and data["vms"] == {
        str(toucher_vm.pk): "toucher-01",
        str(other.pk): "db-01",
    }
    assert sum(data["map"]["size"]) == data["frames"]
    assert set(data["map"]["states"]) >= {"free", "vmkernel", "shared", str(other.pk)}


def test_the_host_map_counts_the_frames_backing_large_pages(client, operator, toucher_vm):
    client.force_login(operator)
    other = make_vm(toucher_vm.host, "db-01", memory_mb=512, workload="database")
    host_url = f"/hosts/{toucher_vm.host_id}/memory-map/data/"
    client.get(host_url)
    for vm in (toucher_vm, other):
        _data(client, vm)
    runtime.tick(toucher_vm.host_id)  # large pages on: a hardware MMU, the ESXi default setting
    mapped = client.get(host_url).json()["map"]
    large_kb = sum(_data(client, vm)["counters"]["lab.largepages"] for vm in (toucher_vm, other))
    assert large_kb > 0 and mapped["largeTotal"] * 4 == large_kb
    assert len(mapped["large"]) == len(mapped["size"])
    assert sum(mapped["large"]) == mapped["largeTotal"]
    for index, large in enumerate(mapped["large"]):
        vm_frames = sum(mapped["counts"][str(vm.pk)][index] for vm in (toucher_vm, other))
        assert large <= vm_frames  # some of the VMs' frames, not a category of their own


def test_the_pages_render_the_tab_and_the_legend(client, operator, toucher_vm):
    client.force_login(operator)
    page = client.get(f"/vms/{toucher_vm.pk}/memory-map/")
    assert page.status_code == 200
    html = page.content.decode()
    for label in (
        "Granted, private",
        "Shared",
        "Zero (shared zero pages)",
        "Free in the guest",
        "Untouched",
    ):
        assert label in html
    assert 'aria-current="page">Memory map</a>' in html and "js/memmap.js" in html
    summary = client.get(f"/vms/{toucher_vm.pk}/").content.decode()
    assert f'href="/vms/{toucher_vm.pk}/memory-map/"' in summary
    host_page = client.get(f"/hosts/{toucher_vm.host_id}/memory-map/")
    assert host_page.status_code == 200
    html = host_page.content.decode()
    assert 'class="memmap-swatch memmap-swatch-hatched"' in html
    assert "Large pages (2 MB, never shared)" in html
    assert LARGE_PAGES_RULE in html  # the lab.largepages counter's own words


def test_the_map_needs_the_view_permission_and_a_known_object(
    client, stranger, operator, toucher_vm
):
    client.force_login(stranger)
    assert client.get(f"/vms/{toucher_vm.pk}/memory-map/").status_code == 403
    assert client.get(f"/vms/{toucher_vm.pk}/memory-map/data/").status_code == 403
    client.force_login(operator)
    assert client.get("/vms/999999/memory-map/data/").status_code == 404
    assert client.get("/hosts/999999/memory-map/").status_code == 404
    assert client.post(f"/vms/{toucher_vm.pk}/memory-map/data/").status_code == 405


def test_a_powered_off_vm_says_so(client, operator, toucher_vm):
    client.force_login(operator)
    _data(client, toucher_vm)
    services.power_off(toucher_vm)
    runtime.tick(toucher_vm.host_id)
    assert _data(client, toucher_vm)["poweredOn"] is False


def test_without_redis_the_tick_goes_on_and_the_map_says_why(
    client, operator, toucher_vm, monkeypatch
):
    import redis

    from hostsim import layers

    down = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.5
    )  # nothing listens there
    monkeypatch.setattr(layers, "get_redis", lambda: down)
    client.force_login(operator)
    assert runtime.tick(toucher_vm.host_id) == "ticked"
    response = client.get(f"/vms/{toucher_vm.pk}/memory-map/data/")
    assert response.status_code == 503 and "Redis" in response.json()["error"]
