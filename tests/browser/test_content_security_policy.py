"""The pages work in a real browser under their Content-Security-Policy: nothing is refused."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before each document's own scripts (Playwright injects it through the DevTools protocol,
# which the page's policy does not govern) and records what the browser refused.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def watched(page):
    """The logged-in page, recording policy violations from events and from the console."""
    console = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.add_init_script(RECORD_VIOLATIONS)
    page.console_violations = console
    return page


def violations(page) -> list[str]:
    return page.evaluate("() => window.cspViolations") + page.console_violations


def test_the_inventory_and_a_vms_performance_tab_break_no_rule_of_the_policy(watched, scenario):
    page = watched
    page.goto(scenario.url + "/")
    page.wait_for_selector(".inventory-pane[data-feed-state=live]")
    assert violations(page) == []

    page.goto(f"{scenario.url}/vms/{scenario.vm_id}/performance/")
    page.wait_for_selector("#live-status[data-state=live]")
    page.wait_for_function("() => (document.getElementById('chart').data || []).length > 0")
    # Plotly's PNG export, as the chart's download button does it: a data: image
    png = page.evaluate(
        "() => Plotly.toImage(document.getElementById('chart'), {format: 'png', width: 400})"
    )
    assert png.startswith("data:image/png;base64,")
    assert violations(page) == []


def test_the_api_docs_render_under_the_policy(watched, scenario):
    page = watched
    page.goto(scenario.url + "/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "vmemlab API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-tag")  # the schema was fetched and drawn
    assert violations(page) == []


def test_an_inline_script_is_refused_and_reported(watched, scenario):
    """The control: the policy is in force and the two tests above would see a violation."""
    page = watched
    page.goto(scenario.url + "/")
    page.evaluate(
        """() => {
            const script = document.createElement('script');
            script.textContent = 'window.inlineRan = true';
            document.body.appendChild(script);
        }"""
    )
    page.wait_for_function("() => window.cspViolations.length > 0")
    assert page.evaluate("() => window.inlineRan") is None
    assert any(v.startswith("script-src") for v in violations(page))
