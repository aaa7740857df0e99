"""Large pages on the Summary tabs and the esxtop panel (issue 13 part 1)."""

import html as markup
import re

import pytest
from dashboard_factories import add_host_view, add_samples, make_host, make_vm, vm_values
from django.test import Client

from pools import services

pytestmark = pytest.mark.django_db


def _page(user, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_the_vm_summary_shows_the_memory_large_pages_back(vm, viewer):
    large = {"lab.largepages": 512 * 1024}
    add_samples("vm", vm.pk, vm.host, 2, values=lambda step: vm_values(step) | large)
    html = _page(viewer, f"/vms/{vm.pk}/")
    shown = r'<dt>Large pages \(lab\)</dt><dd><span data-live="lab.largepages" data-unit="mb">512<'
    assert re.search(shown, html)


@pytest.mark.parametrize(
    ("hardware_mmu", "setting", "shown"),
    [
        (True, 1, "on: hardware-MMU VMs get 2 MB pages"),
        (True, 0, "off: Mem.AllocGuestLargePage is 0"),
        (False, 1, "off: the host's CPU has no hardware MMU"),
    ],
)
def test_the_host_summary_says_whether_large_pages_are_on(viewer, hardware_mmu, setting, shown):
    host = make_host("esx-lp")
    services.update_host(
        host, hardware_mmu=hardware_mmu, advanced_settings={"Mem.AllocGuestLargePage": setting}
    )
    sample = {"mem.consumed": 1024, "lab.largepages": 2048 * 1024}
    add_samples("host", host.pk, host, 1, values=lambda step: sample)
    html = _page(viewer, f"/hosts/{host.pk}/")
    state = "on" if hardware_mmu and setting else "off"
    found = re.search(rf'<dd data-large-pages="{state}">([^<]*)</dd>', html)
    assert found and markup.unescape(found.group(1)).startswith(shown[0].upper() + shown[1:])
    assert re.search(r'data-live="lab.largepages" data-unit="mb">2[,.]?048<', html)


def test_the_esxtop_panel_shows_the_large_backed_memory(viewer):
    host = make_host("esx-lp", memory_mb=4096)
    vm = make_vm(host, "db01", memory_mb=512, workload="database")
    screen = add_host_view(host, ticks=3)
    assert screen["LPAGE"]["backed"] > 0
    html = _page(viewer, f"/hosts/{host.pk}/esxtop/")
    assert f'LPAGE /MB: <span class="esx-num">{screen["LPAGE"]["backed"]:.0f}</span> backed' in html
    row = html[html.index(f'href="/vms/{vm.pk}/"') :]
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert f"{screen['vms'][0]['large']:.2f}" in cells
