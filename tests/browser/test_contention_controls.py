"""Memory under contention in a real browser: a VM's memory resources and balloon driver changed
from its lab controls, and the host's free memory state card fed live by the worker."""

import functools

import pytest

from tests.labprocs import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

wait_for = functools.partial(wait_until, timeout=30.0, interval=0.2)


def _vm(vm_id):
    from hostsim.models import VirtualMachine

    return VirtualMachine.objects.get(pk=vm_id)


def test_a_vms_shares_limit_and_balloon_driver_change_from_its_lab_controls(
    page, scenario, in_a_thread
):
    page.goto(f"{scenario.url}/vms/{scenario.vm_id}/")
    form = "form[data-lab=memory]"
    page.uncheck(f"{form} input[name=unlimited]")
    page.fill(f"{form} input[name=limit]", "768")
    page.select_option(f"{form} select[name=level]", "high")
    page.click(f"{form} button[type=submit]")
    wait_for(
        lambda: "shares high" in (page.text_content(f"{form} [data-message]") or ""),
        message="no answer to the memory resources change",
    )
    assert "limit 768 MB" in page.text_content(f"{form} [data-message]")
    vm = in_a_thread(_vm, scenario.vm_id)
    assert (vm.memory_limit, vm.memory_shares_level, vm.memory_shares) == (768, "high", 20 * 1024)

    # A reservation above the VM's memory is refused with the reason, and nothing changes.
    page.fill(f"{form} input[name=reservation]", "4096")
    page.click(f"{form} button[type=submit]")
    wait_for(lambda: page.is_visible(f"{form} [data-message].is-error"), message="no refusal shown")
    assert in_a_thread(_vm, scenario.vm_id).memory_reservation == 0

    balloon = "form[data-lab=balloon]"
    page.uncheck(f"{balloon} input[name=balloonDriver]")
    page.click(f"{balloon} button[type=submit]")
    wait_for(
        lambda: "stopped" in (page.text_content(f"{balloon} [data-message]") or ""),
        message="no answer to the balloon driver change",
    )
    assert in_a_thread(_vm, scenario.vm_id).balloon_driver is False


def test_the_host_summary_shows_its_free_memory_state_live(page, scenario):
    page.goto(f"{scenario.url}/hosts/{scenario.host_id}/")
    state = "#memory-state [data-live='mem.state']"
    wait_for(lambda: page.text_content(state) == "high", message="the state never arrived")
    rows = page.locator("#memory-state tbody tr")
    assert [rows.nth(i).locator("th").text_content() for i in range(5)] == [
        "high",
        "clear",
        "soft",
        "hard",
        "low",
    ]
    assert "is-current" in (rows.nth(0).get_attribute("class") or "")
    assert "minFree is 655 MB" in page.text_content(
        "#memory-state"
    )  # 16 GB: 245.76 + 327.68 + 81.92
