"""The Memory map tab in a real browser (issue 11): the lanes render with their legend, and an
allocation by the lab controls shows on the map without a reload."""

import functools

import pytest

from tests.labprocs import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

wait_for = functools.partial(wait_until, timeout=40.0, interval=0.25)


def _toucher_virtual_mb(page) -> float:
    """The toucher's Virtual MB in the processes table."""
    return page.evaluate(
        """() => {
          const row = [...document.querySelectorAll('#process-table tbody tr')]
            .find((tr) => tr.cells[0].textContent.startsWith('toucher ('));
          return row ? Number(row.cells[1].textContent.replace(/,/g, '')) : -1;
        }"""
    )


def test_the_memory_map_renders_with_its_legend_and_follows_an_allocation_live(page, scenario):
    page.goto(f"{scenario.url}/vms/{scenario.vm_id}/memory-map/")
    assert page.get_attribute("nav.tabs a[aria-current=page]", "href").endswith("/memory-map/")
    # The lanes: Plotly's SVG with bars in them, once the worker drew the map.
    page.wait_for_selector("#memmap .main-svg", timeout=40_000)
    wait_for(lambda: page.locator("#memmap .bars path").count() > 0, message="no bars drawn")
    ticks = page.locator("#memmap .ytick text").all_text_contents()
    assert {"Machine", "Guest physical"} <= set(ticks) and any(
        t.startswith("httpd (") for t in ticks
    )
    assert any(t.startswith("toucher (") for t in ticks)
    # The legend names the counters' states, with their colours and live totals.
    legend = page.locator("#memmap-legend li")
    labels = legend.all_text_contents()
    for label in ("Granted, private", "Shared", "Zero", "Free in the guest", "Untouched"):
        assert any(text.startswith(label) for text in labels), (label, labels)
    assert (
        page.evaluate(
            "() => getComputedStyle(document.querySelector('.memmap-swatch')).backgroundColor"
        )
        != "rgba(0, 0, 0, 0)"
    )
    wait_for(lambda: "MB" in page.text_content("[data-total=private]"), message="no totals")
    # The MMU panel explains both modes; the traced pages table follows 8 pages.
    assert "Hardware (EPT/RVI) (running)" in page.text_content("#mmu-panel")
    assert "Software (shadow page tables) (computed)" in page.text_content("#mmu-panel")
    assert page.locator("#trace-table tbody tr").count() == 8
    assert _toucher_virtual_mb(page) == 0

    drawn_at = page.get_attribute("#memmap", "data-ts")
    page.evaluate("() => { window.notReloaded = true; }")
    form = "form[data-lab=guest]"
    page.fill(f"{form} input[name=mb]", "256")
    page.click(f"{form} button[value=allocate]")
    wait_for(
        lambda: _toucher_virtual_mb(page) == 256, message="the allocation never reached the map"
    )
    assert page.get_attribute("#memmap", "data-ts") != drawn_at
    assert page.evaluate("() => window.notReloaded === true"), "the page was reloaded"
    wait_for(
        lambda: any(
            "toucher" in text for text in page.locator("#memmap .ytick text").all_text_contents()
        ),
        message="the toucher lane went missing",
    )
    assert page.errors == []


def test_the_host_memory_map_shows_each_vm_in_its_legend(page, scenario):
    page.goto(f"{scenario.url}/hosts/{scenario.host_id}/memory-map/")
    page.wait_for_selector("#memmap .main-svg", timeout=40_000)
    wait_for(
        lambda: page.locator("#memmap-legend li[data-state^=vm-]").count() == 2,
        message="the VMs are not in the legend",
    )
    labels = page.locator("#memmap-legend").text_content()
    assert (
        "vm-live" in labels and "<img src=x onerror=alert(1)>" in labels
    )  # escaped, shown as text
    assert "VMkernel" in labels and "Free" in labels


def test_the_host_memory_map_hatches_the_frames_backing_large_pages(page, scenario):
    # The scenario's host has a hardware MMU and Mem.AllocGuestLargePage 1 (the ESXi default).
    page.goto(f"{scenario.url}/hosts/{scenario.host_id}/memory-map/")
    page.wait_for_selector("#memmap .main-svg", timeout=40_000)
    large = page.locator("#memmap-legend li[data-state=large]")
    assert large.text_content().startswith("Large pages (2 MB, never shared)")
    total = large.locator("[data-total]")
    wait_for(lambda: "MB" in total.text_content(), message="no total")
    assert float(total.text_content().split()[0].replace(",", "")) > 0
    style = large.locator(".memmap-swatch").evaluate(
        "s => [getComputedStyle(s).backgroundImage, getComputedStyle(s).color]"
    )
    assert style[0].startswith("repeating-linear-gradient")  # hatched, as on the map
    assert style[1] == "rgb(184, 134, 11)"  # lab.largepages' colour, as on the VM's map
    # Plotly draws the hatch as SVG patterns filling the overlay's bars.
    wait_for(lambda: page.locator("#memmap pattern").count() > 0, message="no hatched cells drawn")
