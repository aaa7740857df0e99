"""Fast-forward from the host's Summary in a real browser: a progress bar that follows the job
live, survives a reload, and can cancel it."""

import functools

import pytest

from tests.labprocs import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

wait_for = functools.partial(wait_until, timeout=30.0, interval=0.2)


def progress(page) -> float:
    return page.evaluate("() => document.querySelector('[data-progress] progress').value")


def status(page) -> str:
    return page.text_content("[data-progress] [data-status]") or ""


def test_a_fast_forward_shows_its_progress_live_and_after_a_reload(page, scenario):
    page.goto(f"{scenario.url}/hosts/{scenario.host_id}/")
    form = "form[data-lab=advance]"
    page.select_option(f"{form} select[name=seconds]", "604800")  # a week: long enough to watch
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{form} [data-progress]:not([hidden])")
    first = wait_for(lambda: (value := progress(page)) > 0 and value, message="the bar never moved")
    wait_for(lambda: progress(page) > first, message="the bar did not follow the job")
    assert "Running" in status(page)

    page.reload()
    page.wait_for_selector(f"{form} [data-progress]:not([hidden])")
    assert progress(page) >= first, "after a reload the bar lost the running job"
    wait_for(
        lambda: "simulated minutes" in status(page),
        message="the reloaded page does not follow the job",
    )

    page.click(f"{form} [data-cancel]")
    wait_for(lambda: "Cancelled" in status(page), message="the job was not cancelled")
    assert page.is_hidden(f"{form} [data-cancel]")
    assert 0 < progress(page) < 1
