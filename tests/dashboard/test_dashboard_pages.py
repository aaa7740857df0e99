"""The server-rendered pages: access rules, the inventory tree, summaries, esxtop, escaping."""

import json
import re

import pytest
from dashboard_factories import (
    T0,
    add_host_view,
    add_samples,
    make_host,
    make_pool,
    make_user,
    make_vm,
)
from django.test import Client

from pools import services
from pools.admission import Allocation

pytestmark = pytest.mark.django_db

MARKUP = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_config(html: str) -> dict:
    """What the page hands its scripts: the #page-config JSON."""
    found = re.search(
        r'<script id="page-config" type="application/json">(.*?)</script>', html, re.S
    )
    return json.loads(found.group(1))


def page_urls(host, pool, vm) -> list[str]:
    return [
        f"/hosts/{host.pk}/",
        f"/hosts/{host.pk}/performance/",
        f"/hosts/{host.pk}/performance/?view=esxtop",
        f"/hosts/{host.pk}/esxtop/",
        f"/pools/{pool.pk}/",
        f"/pools/{pool.pk}/performance/",
        f"/vms/{vm.pk}/",
        f"/vms/{vm.pk}/performance/",
        f"/vms/{vm.pk}/performance/?view=advanced",
    ]


@pytest.fixture
def pool(host):
    return make_pool(host, "Production")


def test_every_page_needs_a_login(host, pool, vm):
    for url in ["/", *page_urls(host, pool, vm)]:
        response = Client().get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


def test_a_user_without_the_view_permission_gets_403_where_a_viewer_gets_200(
    host, pool, vm, stranger, viewer
):
    for url in page_urls(host, pool, vm):
        assert logged_in(viewer).get(url).status_code == 200, url
        refused = logged_in(stranger).get(url)
        assert refused.status_code == 403, url
        assert b"No permission" in refused.content


def test_unknown_ids_are_404(viewer):
    client = logged_in(viewer)
    for url in [
        "/hosts/999/",
        "/pools/999/performance/",
        "/vms/999/",
        "/vms/999/performance/",
        "/vms/99999999999999999999999/",
        "/hosts/999/esxtop/",
    ]:
        assert client.get(url).status_code == 404, url


def test_unknown_api_paths_answer_json_not_html(viewer):
    response = logged_in(viewer).get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]


def test_the_tree_nests_pools_and_vms_under_their_host_with_power_state_icons(host, viewer):
    parent = make_pool(host, "Production")
    child = make_pool(host, "Databases", parent=parent)
    running = make_vm(host, "db-running", pool=child)
    stopped = make_vm(host, "web-stopped", pool=parent, on=False)
    loose = make_vm(host, "in-root")
    other_host = make_host("esx02")
    html = logged_in(viewer).get("/").content.decode()
    tree = html[html.index('class="tree"') : html.index("</nav>", html.index('class="tree"'))]

    def position(key):
        return tree.index(f'data-key="{key}"')

    assert (
        position(f"host-{host.pk}") < position(f"pool-{parent.pk}") < position(f"pool-{child.pk}")
    )
    assert position(f"pool-{child.pk}") < position(f"vm-{running.pk}")
    assert (
        position(f"host-{host.pk}") < position(f"vm-{loose.pk}") < position(f"host-{other_host.pk}")
    )
    assert f'data-key="pool-{parent.pk}"' in tree
    assert (
        'data-key="pool-' + str(running.resource_pool.parent.parent_id) + '"' not in tree
    )  # no root node
    item = re.search(rf'data-key="vm-{running.pk}".*?</a>', tree, re.S).group(0)
    assert "icon-vm-on" in item and "Powered on" in item
    item = re.search(rf'data-key="vm-{stopped.pk}".*?</a>', tree, re.S).group(0)
    assert "icon-vm-off" in item and "Powered off" in item


def test_the_tree_shows_only_what_the_user_may_view(host, vm):
    vm_only = make_user("vm-only", "hostsim.view_virtualmachine")
    tree_html = logged_in(vm_only).get(f"/vms/{vm.pk}/").content.decode()
    assert f'data-key="vm-{vm.pk}"' in tree_html
    assert f'data-key="host-{host.pk}"' not in tree_html
    nothing = make_user("nothing")
    assert f'data-key="vm-{vm.pk}"' not in logged_in(nothing).get("/").content.decode()


def test_the_current_object_is_selected_in_the_tree(vm, viewer):
    html = logged_in(viewer).get(f"/vms/{vm.pk}/performance/").content.decode()
    assert f'class="tree-link is-selected" href="/vms/{vm.pk}/"' in html


def test_names_with_markup_are_shown_as_text_everywhere(host, viewer, operator):
    host.name = MARKUP
    host.save()
    pool = make_pool(host, MARKUP + " pool")
    vm = make_vm(host, MARKUP, pool=pool)
    add_samples(
        "host",
        host.pk,
        host,
        2,
        values=lambda s: {"mem.consumed": 1, "mem.shared": 2, "mem.sharedcommon": 1},
    )
    add_samples("vm", vm.pk, host, 2)
    add_host_view(host, ticks=1)
    for url in ["/", *page_urls(host, pool, vm)]:
        for user in (viewer, operator):
            html = logged_in(user).get(url).content.decode()
            assert MARKUP not in html, url
            assert ESCAPED in html or "\\u003Cimg src=x onerror=alert(1)\\u003E" in html, url


def test_the_tree_fragment_and_the_header_state_need_a_login(vm):
    for url in ["/inventory/tree/", f"/inventory/header/vm/{vm.pk}/"]:
        response = Client().get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


def test_the_tree_fragment_is_the_pages_tree_with_names_escaped(host, viewer):
    pool = make_pool(host, MARKUP + " pool")
    vm = make_vm(host, MARKUP, pool=pool, on=False)
    client = logged_in(viewer)
    page = client.get(f"/vms/{vm.pk}/").content.decode()
    response = client.get(f"/inventory/tree/?selected=vm-{vm.pk}")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    fragment = response.content.decode().strip()
    assert fragment.startswith('<nav class="tree"') and fragment.endswith("</nav>")
    assert fragment in page, "the fragment is what the page's tree partial renders"
    assert MARKUP not in fragment
    assert (
        f'title="{ESCAPED}' in fragment and f'<span class="tree-label">{ESCAPED}</span>' in fragment
    )
    assert f'class="tree-link is-selected" href="/vms/{vm.pk}/"' in fragment


def test_the_tree_fragment_shows_the_current_power_state_and_only_what_the_user_may_view(
    host, viewer
):
    vm = make_vm(host, "web01", on=False)
    client = logged_in(viewer)

    def vm_item():
        fragment = client.get("/inventory/tree/").content.decode()
        return re.search(rf'data-key="vm-{vm.pk}".*?</a>', fragment, re.S).group(0)

    assert "icon-vm-off" in vm_item() and "Powered off" in vm_item()
    services.power_on(vm)
    assert "icon-vm-on" in vm_item() and "Powered on" in vm_item()
    vm_only = (
        logged_in(make_user("vm-only", "hostsim.view_virtualmachine"))
        .get("/inventory/tree/")
        .content.decode()
    )
    assert f'data-key="vm-{vm.pk}"' in vm_only and f'data-key="host-{host.pk}"' not in vm_only
    nothing = logged_in(make_user("nothing")).get("/inventory/tree/").content.decode()
    assert (
        f'data-key="vm-{vm.pk}"' not in nothing and "No inventory objects you may see." in nothing
    )


@pytest.mark.parametrize(
    "selected", ["", "vm-", "vm-0", "vm-1 x", 'vm-1" onclick="x', "cluster-1", "vm-" + "9" * 30]
)
def test_the_tree_fragment_selects_nothing_for_a_malformed_key(vm, viewer, selected):
    response = logged_in(viewer).get("/inventory/tree/", {"selected": selected})
    assert response.status_code == 200
    assert b"is-selected" not in response.content
    assert b"onclick" not in response.content


def test_the_header_fragment_is_the_pages_header_and_follows_the_power_state(host, viewer):
    vm = make_vm(host, MARKUP, on=False)
    client = logged_in(viewer)
    url = f"/inventory/header/vm/{vm.pk}/"
    response = client.get(url)
    assert response.status_code == 200 and "no-cache" in response["Cache-Control"]
    fragment = response.content.decode().strip()
    assert fragment.startswith('<div class="object-header">') and fragment.endswith("</div>")
    page = client.get(f"/vms/{vm.pk}/").content.decode()
    assert fragment in page, "the fragment is what the page's header partial renders"
    assert MARKUP not in fragment and ESCAPED in fragment
    assert 'icon-vm-off" id="object-icon"' in fragment and ">Powered off</span>" in fragment
    services.power_on(vm)
    fragment = client.get(url).content.decode()
    assert 'icon-vm-on" id="object-icon"' in fragment and ">Powered on</span>" in fragment
    assert "is-on" in re.search(
        r'<span class="state-badge[^"]*" id="object-state">', fragment
    ).group(0)
    host_header = client.get(f"/inventory/header/host/{host.pk}/").content.decode()
    assert 'icon-host" id="object-icon"' in host_header and ">Connected</span>" in host_header
    config = page_config(page)
    assert config["headerUrl"] == url


def test_the_header_state_is_refused_like_the_page(host, vm, viewer, stranger):
    url = f"/inventory/header/vm/{vm.pk}/"
    assert logged_in(viewer).get(url).status_code == 200
    assert logged_in(stranger).get(url).status_code == 403
    for unknown in ["/inventory/header/vm/999999/", f"/inventory/header/cluster/{vm.pk}/"]:
        assert logged_in(viewer).get(unknown).status_code == 404, unknown


def test_every_page_shows_the_tree_and_loads_the_inventory_feed_and_the_login_page_does_not(
    host, pool, vm, viewer
):
    client = logged_in(viewer)
    fragments = {f"/hosts/{host.pk}/esxtop/"}  # the esxtop panel alone, swapped into its page
    for url in ["/", *(url for url in page_urls(host, pool, vm) if url not in fragments)]:
        html = client.get(url).content.decode()
        assert '<nav class="tree"' in html, url
        assert (
            'data-feed="/ws/inventory/"' in html and 'data-tree-url="/inventory/tree/"' in html
        ), url
        assert html.count('<script type="module" src="/static/js/inventory.js">') == 1, url
    for url in fragments:
        assert 'class="tree"' not in client.get(url).content.decode(), url
    login = Client().get("/accounts/login/").content.decode()
    assert "js/inventory.js" not in login


def test_every_script_is_a_module_and_its_imports_are_served(host, pool, vm, viewer):
    """The front end is native ES modules (no build step): each page's scripts, and everything
    they import, relatively, must come back as JavaScript."""
    client = logged_in(viewer)
    seen: set[str] = set()
    for url in ["/", *page_urls(host, pool, vm)]:
        html = client.get(url).content.decode()
        for tag in re.findall(r"<script\b[^>]*\bsrc=[^>]*>", html):
            src = re.search(r'src="([^"]+)"', tag).group(1)
            if "/vendor/" in src:
                continue  # Plotly is a classic script, served from its package
            assert 'type="module"' in tag, (url, tag)
            seen.add(src)
    queue = list(seen)
    while queue:
        src = queue.pop()
        response = client.get(src)
        assert response.status_code == 200, src
        assert "javascript" in response["Content-Type"], src
        body = b"".join(response.streaming_content).decode()
        for name in re.findall(r'\bfrom "\./([\w-]+\.js)";', body):
            imported = src.rsplit("/", 1)[0] + "/" + name
            if imported not in seen:
                seen.add(imported)
                queue.append(imported)
    assert {"/static/js/perf.js", "/static/js/chart.js", "/static/js/live-socket.js"} <= seen


def test_page_data_is_passed_as_json_script_and_no_inline_handlers(host, vm, viewer):
    add_samples("vm", vm.pk, host, 4)
    html = logged_in(viewer).get(f"/vms/{vm.pk}/performance/").content.decode()
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    assert "<script>" not in html.replace('<script id="page-config" type="application/json">', "")
    config = page_config(html)
    assert config["wsPath"] == f"/ws/perf/vm/{vm.pk}/"
    assert config["statsUrl"] == f"/api/vms/{vm.pk}/stats/"
    initial = json.loads(
        re.search(
            r'<script id="initial-stats" type="application/json">(.*?)</script>', html, re.S
        ).group(1)
    )
    assert len(initial["timestamps"]) == 4
    assert initial["series"]["mem.granted.average"] == [100_000, 100_001, 100_002, 100_003]
    assert "vendor/plotly.min.js" in html


def test_the_chart_reads_the_statistics_intervals_and_the_counter_limit_from_the_server(vm, viewer):
    """One table of intervals (hostsim.models) and one counter limit (dashboard.stats): the page's
    config and its Timespan choices come from them, not from a copy in the template or script."""
    from dashboard.stats import MAX_COUNTERS
    from hostsim.models import STATS_INTERVALS

    html = logged_in(viewer).get(f"/vms/{vm.pk}/performance/?view=advanced").content.decode()
    config = page_config(html)
    assert config["intervals"] == [
        {"seconds": i.seconds, "retention": i.retention, "timespan": i.timespan, "label": i.label}
        for i in STATS_INTERVALS
    ]
    assert config["maxCounters"] == MAX_COUNTERS
    select = re.search(r'<select id="timespan" name="timespan">(.*?)</select>', html, re.S).group(1)
    options = re.findall(r'<option value="([^"]+)">([^<]+)</option>', select)
    assert options == [(i.timespan, i.label) for i in STATS_INTERVALS] + [
        ("custom", "Custom interval")
    ]


def test_lab_controls_are_shown_only_with_the_change_permission(host, vm, viewer, operator):
    for url in (f"/vms/{vm.pk}/", f"/vms/{vm.pk}/performance/", f"/hosts/{host.pk}/"):
        assert b'id="lab-controls"' not in logged_in(viewer).get(url).content, url
        assert b'id="lab-controls"' in logged_in(operator).get(url).content, url
    host_html = logged_in(operator).get(f"/hosts/{host.pk}/").content.decode()
    for setting in (
        "Mem.ShareScanTime",
        "Mem.ShareScanGHz",
        "Mem.ShareRateMax",
        "Mem.ShareForceSalting",
    ):
        assert f'name="{setting}"' in host_html


def test_the_vm_summary_shows_the_guest_view_beside_the_hypervisor_view(host, viewer):
    vm = make_vm(host, "app01", memory_mb=4096)
    add_samples(
        "vm",
        vm.pk,
        host,
        1,
        values=lambda s: {
            "lab.guest.used": 1024 * 1024,
            "mem.granted": 3 * 1024 * 1024,
            "mem.consumed": 2 * 1024 * 1024,
            "mem.shared": 512 * 1024,
        },
    )
    html = logged_in(viewer).get(f"/vms/{vm.pk}/").content.decode()
    guest = html[html.index("Guest OS view") : html.index("Hypervisor view")]
    assert re.search(r'data-live="lab.guest.used" data-unit="mb">1,024<', guest)
    assert re.search(
        r'data-live-free="lab.guest.used"[^>]*>3,072<', guest
    )  # 4096 configured - 1024 used
    hypervisor = html[html.index("Hypervisor view") :]
    assert re.search(r'data-live="mem.granted" data-unit="mb">3,072<', hypervisor)
    assert re.search(r'data-live="mem.consumed" data-unit="mb">2,048<', hypervisor)
    assert re.search(r'data-live="mem.shared" data-unit="mb">512<', hypervisor)


def test_the_pool_summary_shows_its_reservation_runtime(host, viewer):
    pool = make_pool(host, "Reserved", memory=Allocation(reservation=4096, expandable=False))
    make_vm(host, "r1", pool=pool, memory=Allocation(reservation=1024, expandable=False))
    html = logged_in(viewer).get(f"/pools/{pool.pk}/").content.decode()
    runtime = html[html.index("Runtime") :]
    memory_row = re.search(r"<th scope=\"row\">Memory</th>(.*?)</tr>", runtime, re.S).group(1)
    cells = re.findall(r"<td>([^<]*)</td>", memory_row)
    assert cells[:3] == ["1,024 MB", "1,024 MB", "3,072 MB"]


def test_the_esxtop_panel_shows_the_engines_screen_of_the_newest_tick(viewer):
    host = make_host("esx-top", memory_mb=8192)
    make_vm(host, "alpha", memory_mb=2048)
    make_vm(host, "beta", memory_mb=1024)
    make_vm(host, "asleep", memory_mb=1024, on=False)
    screen = add_host_view(host, ticks=3)
    pmem = screen["PMEM"]

    html = logged_in(viewer).get(f"/hosts/{host.pk}/esxtop/").content.decode()
    text = re.sub(r"<[^>]+>", "", html)
    assert re.search(
        rf"PMEM\s+/MB:\s+{pmem['total']} total:\s+{pmem['vmk']} vmk,\s+{pmem['other']} other,\s+"
        rf"{pmem['free']} free",
        text,
    )
    assert re.search(r"VMKMEM/MB:\s+410 minfree,\s+high state", text)  # 6% of 4 GB + 4% of 4 GB
    assert re.search(r"SWAP\s+/MB:\s+0 curr,\s+0 rclmtgt:\s+0.00 r/s,\s+0.00 w/s", text)
    assert re.search(r"MEMCTL/MB:\s+0 curr,\s+0 target,\s+\d+ max", text)
    rows = re.findall(r"<tr><td class=\"esx-name\">.*?</tr>", html, re.S)
    assert len(rows) == 2 and "asleep" not in html  # running VMs only
    ordered = sorted(screen["vms"], key=lambda row: -row["consumed"])
    assert [row["name"] for row in ordered] == [
        re.search(r">([a-z]+)</a>", row).group(1) for row in rows
    ]  # heaviest consumer first
    alpha = next(row for row in screen["vms"] if row["name"] == "alpha")
    cells = re.findall(r"<td>([\w.]+)</td>", rows[ordered.index(alpha)])
    assert cells[:3] == ["2048.00", f"{alpha['grant']:.2f}", f"{alpha['entitlement']:.2f}"]
    assert cells[5] == "Y"  # MCTL?: the balloon driver runs


def test_esxtop_leaves_out_vms_deleted_since_the_tick(viewer):
    host = make_host("esx-gone", memory_mb=8192)
    gone = make_vm(host, "gone-01", memory_mb=1024)
    add_host_view(host, ticks=1)
    services.power_off(gone)
    services.delete_vm(gone)
    text = logged_in(viewer).get(f"/hosts/{host.pk}/esxtop/").content.decode()
    assert "gone-01" not in text and "No VM is running." in text


def test_the_inventory_landing_page_lists_hosts_and_teaches_the_layers(host, viewer):
    add_samples(
        "host",
        host.pk,
        host,
        1,
        values=lambda s: {"mem.consumed": 4096 * 1024, "mem.shared": 0, "mem.sharedcommon": 0},
    )
    html = logged_in(viewer).get("/").content.decode()
    assert f'href="/hosts/{host.pk}/"' in html
    assert "16,384 MB" in html and "4,096 MB" in html
    for words in (
        "Guest physical memory",
        "Machine memory",
        "Transparent page sharing",
        "Shared common",
    ):
        assert words in html


def test_an_unknown_performance_view_falls_back_to_the_overview(vm, viewer):
    html = logged_in(viewer).get(f"/vms/{vm.pk}/performance/?view=esxtop").content.decode()
    assert 'data-view="overview"' in html  # esxtop exists for hosts only


def test_the_performance_page_runs_a_bounded_number_of_queries(
    host, viewer, django_assert_max_num_queries
):
    for index in range(20):
        vm = make_vm(host, f"vm{index:02d}")
        add_samples("vm", vm.pk, host, 30, start=T0)
    client = logged_in(viewer)
    client.get(f"/vms/{vm.pk}/performance/")  # warm the permission cache path
    with django_assert_max_num_queries(20):
        assert client.get(f"/vms/{vm.pk}/performance/").status_code == 200


def test_the_login_page_renders_and_logs_in(viewer):
    client = Client()
    page = client.get("/accounts/login/?next=/")
    assert page.status_code == 200 and b'name="username"' in page.content
    response = client.post(
        "/accounts/login/", {"username": "viewer", "password": "lab-password-1", "next": "/"}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    wrong = Client().post("/accounts/login/", {"username": "viewer", "password": "nope"})
    assert wrong.status_code == 200 and b'role="alert"' in wrong.content


def test_the_host_summary_marks_the_free_memory_state_of_the_newest_sample(host, viewer):
    add_samples(
        "host", host.pk, host, 2, values=lambda step: {"mem.state": step * 2, "mem.consumed": 1024}
    )
    html = logged_in(viewer).get(f"/hosts/{host.pk}/").content.decode()
    card = html[html.index('id="memory-state"') :]
    assert re.search(r'data-live="mem.state" data-unit="state">soft<', card)  # 2: the newest
    assert re.search(r'<tr class="is-current" aria-current="true"><th scope="row">soft</th>', card)
    assert "minFree is 655 MB" in card  # 16 GB: 6% of 4 GB + 4% of 8 GB + 2% of 4 GB
