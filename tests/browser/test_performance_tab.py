"""The Performance tab in a real browser against the whole running lab (uvicorn, Celery worker
and beat, Redis channel layer), as a vSphere admin would use it."""

import csv
import io
import json
import re
import time
from datetime import datetime

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MARKUP = "<img src=x onerror=alert(1)>"
ROLLED_UP_GRANTED_KB = 123_456


def wait_for(predicate, timeout=20.0, message="condition not met"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(message)


def chart(page) -> list[dict]:
    """The chart's traces as Plotly holds them: name, x (ISO strings) and y."""
    return page.evaluate(
        """() => (document.getElementById('chart').data || []).map(t => ({
            name: t.name,
            x: Array.from(t.x, v => (v instanceof Date ? v : new Date(v)).toISOString()),
            y: Array.from(t.y),
            yaxis: t.yaxis || 'y',
        }))"""
    )


def open_chart_options(page):
    page.click("#chart-options-toggle")
    page.wait_for_selector("#chart-options", state="visible")


def choose_counters(page, names: list[str]):
    for box in page.query_selector_all("input[name=counter]"):
        box.set_checked(box.get_attribute("value") in names)


def test_the_overview_memory_chart_has_the_vsphere_traces_and_grows_live(page, scenario):
    page.goto(f"{scenario.url}/vms/{scenario.vm_id}/performance/")
    page.wait_for_selector("#live-status[data-state=live]")
    traces = wait_for(
        lambda: (t := chart(page)) and len(t[0]["x"]) >= 2 and t, message="no data in the chart"
    )
    assert [t["name"] for t in traces] == [
        "Granted",
        "Consumed",
        "Shared",
        "Active",
        "Overhead",
        "Balloon",
        "Swapped",
        "Compressed",
    ]
    assert all(len(t["y"]) == len(t["x"]) for t in traces)
    assert max(traces[0]["y"]) > 0, "Granted should be above zero for a running web server"
    before = traces[0]["x"][-1]
    page_loads = page.evaluate("() => performance.getEntriesByType('navigation').length")
    later = wait_for(
        lambda: chart(page)[0]["x"][-1] > before and chart(page), message="no new point arrived"
    )
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == page_loads
    legend = page.inner_text("#legend tbody")
    assert "Granted" in legend and "MB" in legend
    assert len(later[0]["x"]) <= 180, "the real-time window holds one hour of 20 s samples"


# The test's switch for the page's websockets, injected before the page's own scripts (the page
# ships no test hook): `drop()` closes every socket and sends new ones to a path the server
# refuses at the handshake, as a network failure would; `restore()` lets the next attempt through.
NETWORK_SWITCH = r"""(() => {
    const Native = window.WebSocket;
    const sockets = [];
    window.testNetwork = {
        down: false,
        drop() { this.down = true; sockets.splice(0).forEach((socket) => socket.close()); },
        restore() { this.down = false; },
    };
    window.WebSocket = class extends Native {
        constructor(url, protocols) {
            const down = window.testNetwork.down;
            super(down ? url.replace(/\/ws\/.*/, "/ws/network-down/") : url, protocols);
            sockets.push(this);
        }
    };
})();"""


def test_no_point_is_missing_after_the_socket_drops_and_comes_back(page, scenario):
    page.add_init_script(NETWORK_SWITCH)
    page.goto(f"{scenario.url}/vms/{scenario.vm_id}/performance/")
    page.wait_for_selector("#live-status[data-state=live]")
    wait_for(lambda: len(chart(page)[0]["x"]) >= 3, message="no data")
    # Keep the socket down for a few ticks (a tick is 0.5 s in the tests), then let it back.
    page.evaluate("() => window.testNetwork.drop()")
    page.wait_for_selector("#live-status[data-state=reconnecting]")
    dropped_at = chart(page)[0]["x"][-1]
    time.sleep(3)
    assert chart(page)[0]["x"][-1] == dropped_at, "points arrived while the socket was down"
    page.evaluate("() => window.testNetwork.restore()")
    page.wait_for_selector("#live-status[data-state=live]", timeout=20_000)
    seen = {}

    def gaps_after_backfill():
        times = chart(page)[0]["x"]
        moments = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times]
        seen["gaps"] = {(b - a).total_seconds() for a, b in zip(moments, moments[1:], strict=False)}
        seen["new"] = sum(1 for t in times if t > dropped_at)
        # A tick every 0.5 s: the 3 s outage alone held several samples.
        return seen["new"] >= 4 and seen["gaps"] == {20.0}

    try:
        wait_for(gaps_after_backfill)
    except AssertionError:
        raise AssertionError(f"holes or doubles after the reconnect: {seen}") from None


def test_chart_options_change_the_traces_and_survive_a_reload(page, scenario):
    page.goto(f"{scenario.url}/vms/{scenario.vm_id}/performance/?view=advanced")
    wait_for(lambda: chart(page), message="the advanced chart did not draw")
    open_chart_options(page)
    page.click("tr[data-counter='lab.mmu.overhead']")
    assert "lab's own" in page.inner_text("#counter-description")
    choose_counters(page, ["mem.granted", "mem.zero", "mem.usage"])
    page.select_option("select[name='rollup-mem.zero']", "maximum")
    page.check("input[name=chartType][value=stacked]")
    page.click("#chart-options button[type=submit]")
    traces = wait_for(
        lambda: (
            (t := chart(page))
            and [x["name"] for x in t] == ["Granted", "Zero (maximum)", "Usage"]
            and t
        ),
        message="the chosen counters are not on the chart",
    )
    assert traces[2]["yaxis"] == "y2", "a percentage goes on its own axis"
    # The API serves mem.usage in hundredths of a percent (vSphere's QueryPerf); the chart shows %.
    stats = page.evaluate(
        f"""async () => (await fetch('/api/vms/{scenario.vm_id}/stats/?counters=mem.usage.average'))
            .json()"""
    )
    served = dict(zip(stats["timestamps"], stats["series"]["mem.usage.average"], strict=True))
    shown = {
        datetime.fromisoformat(x.replace("Z", "+00:00")): y
        for x, y in zip(traces[2]["x"], traces[2]["y"], strict=True)
    }
    pairs = [
        (shown[datetime.fromisoformat(ts)], value)
        for ts, value in served.items()
        if datetime.fromisoformat(ts) in shown and value
    ]
    assert pairs, "no usage sample both served and shown"
    assert all(y == value / 100 for y, value in pairs), pairs[:3]
    assert [row.split("\t")[1] for row in page.inner_text("#legend tbody").splitlines()] == [
        "Granted",
        "Zero",
        "Usage",
    ]
    page.reload()
    traces = wait_for(lambda: chart(page), message="no chart after reload")
    assert [t["name"] for t in traces] == ["Granted", "Zero (maximum)", "Usage"]
    # Leave the defaults for the other tests of the module.
    page.evaluate("() => localStorage.clear()")


def test_last_day_shows_rolled_up_data_and_exports_it_as_csv(page, scenario):
    page.goto(f"{scenario.url}/vms/{scenario.vm_id}/performance/?view=advanced")
    wait_for(lambda: chart(page), message="the advanced chart did not draw")
    open_chart_options(page)
    choose_counters(page, ["mem.granted", "mem.consumed"])
    page.select_option("#timespan", "day")
    page.click("#chart-options button[type=submit]")
    granted = wait_for(
        lambda: (t := chart(page)) and ROLLED_UP_GRANTED_KB in t[0]["y"] and t[0],
        message="the rolled-up rows are not on the chart",
    )
    stored = {ts.isoformat() for ts in scenario.rolled_up_times}
    shown = {datetime.fromisoformat(x.replace("Z", "+00:00")).isoformat() for x in granted["x"]}
    assert stored <= shown
    assert "Last day" in page.inner_text("#chart-title")
    with page.expect_download() as download_info:
        page.click("#export-csv")
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8") as exported:
        rows = list(csv.reader(io.StringIO(exported.read())))
    assert rows[0] == ["Time", "mem.granted.average (KB)", "mem.consumed.average (KB)"]
    assert len(rows) - 1 == len(granted["x"])
    assert str(ROLLED_UP_GRANTED_KB) in {row[1] for row in rows[1:]}
    with page.expect_download() as png_info:
        page.click("#export-png")
    assert png_info.value.suggested_filename.endswith(".png")
    page.evaluate("() => localStorage.clear()")


def test_a_refused_power_on_shows_admission_controls_reason(page, scenario):
    page.goto(f"{scenario.url}/vms/{scenario.too_big_vm_id}/")
    page.click("button[value=power-on]")
    message = page.wait_for_selector("form[data-lab=power] [data-message].is-error")
    text = message.inner_text()
    assert "refused" in text and "Insufficient resources" in text
    assert "requested: 1,024 MB" in text and "unreserved: 512 MB" in text
    assert page.inner_text("#object-state") == "Powered off"


def test_a_pool_created_in_the_admin_appears_in_the_inventory(page, scenario):
    page.goto(f"{scenario.url}/admin/pools/resourcepool/add/")
    page.select_option("#id_host", label="esx-browser")
    page.select_option("#id_parent", label="Resources")
    page.fill("#id_name", "Created in admin")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    page.goto(scenario.url + "/")
    link = page.get_by_role("link", name="Created in admin")
    link.click()
    assert page.inner_text("#object-name") == "Created in admin"
    assert page.locator(".tree-link.is-selected").inner_text().strip() == "Created in admin"


def test_a_name_with_markup_is_text_everywhere(page, scenario):
    url = scenario.url
    page.goto(f"{url}/vms/{scenario.markup_vm_id}/performance/")
    wait_for(lambda: chart(page) and chart(page)[0]["x"], message="no chart data")
    assert page.inner_text("#object-name") == MARKUP
    assert MARKUP in page.locator(".tree-link.is-selected").inner_text()
    title = page.evaluate("() => document.querySelector('#chart .gtitle').textContent")
    assert MARKUP in title
    assert page.evaluate("() => document.querySelectorAll('img[src=x], #chart img').length") == 0
    page.goto(f"{url}/hosts/{scenario.host_id}/performance/?view=esxtop")
    wait_for(
        lambda: MARKUP in page.inner_text("#esxtop"), message="the VM is not in the esxtop panel"
    )
    page.goto(f"{url}/hosts/{scenario.host_id}/")
    assert MARKUP in page.inner_text("#vms-title + table")
    assert page.evaluate("() => document.querySelectorAll('img[src=x]').length") == 0


def test_the_catalogue_in_chart_options_matches_the_api(page, scenario):
    page.goto(f"{scenario.url}/vms/{scenario.vm_id}/performance/?view=advanced")
    api = json.loads(
        page.evaluate(
            "async () => JSON.stringify(await (await fetch('/api/counters/?entity=vm')).json())"
        )
    )
    rows = page.eval_on_selector_all("tr[data-counter]", "rows => rows.map(r => r.dataset.counter)")
    assert rows == [counter["name"] for counter in api]


def test_the_tree_and_the_header_follow_a_power_on_without_a_reload(page, scenario, in_a_thread):
    from hostsim.models import Host
    from pools import services

    vm = in_a_thread(
        services.create_vm, Host.objects.get(pk=scenario.host_id), name="vm-later", memory_mb=512
    )
    inventory_sockets = []  # the page's inventory feed, passed through to the server

    def follow(socket):
        socket.connect_to_server()
        inventory_sockets.append(socket)

    page.route_web_socket(re.compile(r"/ws/inventory/$"), follow)
    page.goto(f"{scenario.url}/vms/{vm.pk}/")
    page.wait_for_selector(".inventory-pane[data-feed-state=live]")
    item = f"li[data-key='vm-{vm.pk}']"
    assert "icon-vm-off" in page.get_attribute(f"{item} .tree-link svg", "class")
    assert page.inner_text("#object-state") == "Powered off"
    # The user collapsed a pool and left the keyboard focus on it; the swap must keep both.
    tight_key = f"pool-{scenario.tight_pool_id}"
    tight_details = f"li[data-key='{tight_key}'] > details"
    tight = page.locator(f"{tight_details} > summary")
    tight.press("Enter")
    assert not page.evaluate(f'() => document.querySelector("{tight_details}").open')
    page.evaluate("() => { window.sameDocument = true; }")

    in_a_thread(services.power_on, vm)

    page.wait_for_selector(f"{item} .tree-link svg.icon-vm-on", timeout=10_000)
    wait_for(
        lambda: page.inner_text("#object-state") == "Powered on",
        timeout=10,
        message="the badge did not change",
    )
    assert "icon-vm-on" in page.get_attribute("#object-icon", "class")
    assert page.evaluate("() => window.sameDocument === true"), "the page reloaded"
    assert page.inner_text(".tree-link.is-selected .tree-label") == "vm-later"
    assert page.evaluate(
        f"""() => !document.querySelector("{tight_details}").open
            && document.activeElement.closest('li').dataset.key === '{tight_key}'"""
    ), "the collapsed pool was opened again, or lost the focus"
    assert MARKUP in page.inner_text(".tree"), "the swapped tree shows the markup VM's name as text"
    assert page.evaluate("() => document.querySelectorAll('img[src=x]').length") == 0

    # A burst of messages within the debounce window gives one refetch.
    tree_fetches = (
        "() => performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('/inventory/tree/')).length"
    )
    before = page.evaluate(tree_fetches)
    assert before >= 1
    for _ in range(5):  # as the server would send them, on the page's own socket
        inventory_sockets[-1].send(json.dumps({"type": "inventory", "host": scenario.host_id}))
    wait_for(
        lambda: page.evaluate(tree_fetches) > before, timeout=5, message="the burst gave no refetch"
    )
    time.sleep(1)
    assert page.evaluate(tree_fetches) == before + 1
