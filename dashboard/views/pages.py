"""The pages: inventory, and Summary / Monitor > Performance for hosts, pools and VMs; and the
fragments a page refetches when the live feeds say something changed (the inventory tree, the
object header's state, the esxtop panel).

Every page needs a login (LoginRequiredMiddleware) and the object's view permission (403 without
it, 404 for an unknown id), through dashboard.access.check_access like the websocket. Views only
gather what the templates show; live numbers come later over the websocket.
"""

import re

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from dashboard.access import Verdict, change_permission, check_access, view_permission
from dashboard.counters import catalogue_json, overview_keys
from dashboard.stats import MAX_COUNTERS, StatsQuery, latest_sample_time, run_query
from dashboard.views import summaries
from hostsim import engine
from hostsim.engine.advanced_settings import SHARE_FORCE_SALTING
from hostsim.models import (
    MMU_MODE_CHOICES,
    REALTIME_INTERVAL,
    SALTING_CHOICES,
    STATS_INTERVALS,
    Host,
    PowerState,
    SharesLevel,
    VirtualMachine,
)
from pools.models import ResourcePool

API_COLLECTIONS = {"host": "hosts", "pool": "pools", "vm": "vms"}
PERFORMANCE_VIEWS = {
    "host": ("overview", "advanced", "esxtop"),
    "pool": ("overview", "advanced"),
    "vm": ("overview", "advanced"),
}
TREE_KEY = re.compile(r"(host|pool|vm)-[1-9][0-9]{0,18}")  # TreeNode.key
FAST_FORWARD_CHOICES = [
    (300, "5 minutes"),
    (3600, "1 hour"),
    (6 * 3600, "6 hours"),
    (86400, "1 day"),
    (7 * 86400, "1 week"),
]


def _visible(request, kind: str, pk: int):
    access = check_access(request.user, kind, pk)
    if access.verdict is Verdict.FORBIDDEN:
        raise PermissionDenied(f"You may not view this {kind}.")
    if not access.allowed:
        raise Http404(f"No {kind} with id {pk}.")
    return access.obj


def _path(obj) -> list[dict]:
    """Where the object sits: host, then the pools above it (the root pool is the host)."""
    crumbs = []
    pool = None
    if isinstance(obj, VirtualMachine):
        pool = obj.resource_pool
    elif isinstance(obj, ResourcePool):
        pool = obj.parent
    while pool is not None and not pool.is_root:
        crumbs.append(
            {"kind": "pool", "name": pool.name, "url": reverse("dashboard:pool", args=[pool.pk])}
        )
        pool = pool.parent
    if not isinstance(obj, Host):
        host = obj.host
        crumbs.append(
            {"kind": "host", "name": host.name, "url": reverse("dashboard:host", args=[host.pk])}
        )
    return list(reversed(crumbs))


def _header(kind: str, obj) -> dict:
    if kind == "vm":
        on = obj.power_state == PowerState.POWERED_ON
        return {
            "icon": "vm-on" if on else "vm-off",
            "state": obj.get_power_state_display(),
            "state_on": on,
            "label": "Virtual Machine",
        }
    if kind == "pool":
        return {"icon": "pool", "state": "", "state_on": None, "label": "Resource Pool"}
    return {"icon": "host", "state": "Connected", "state_on": True, "label": "Host"}


def _object_context(request, kind: str, obj, tab: str) -> dict:
    pk = obj.pk
    api = f"/api/{API_COLLECTIONS[kind]}/{pk}/"
    page = {
        "kind": kind,
        "id": pk,
        "name": obj.name,
        "wsPath": f"/ws/perf/{kind}/{pk}/",
        "apiUrl": api,
        "statsUrl": f"{api}stats/",
        "intervals": [interval._asdict() for interval in STATS_INTERVALS],  # finest first
    }
    host_id = pk if kind == "host" else obj.host_id
    clock = latest_sample_time("host", host_id, REALTIME_INTERVAL)
    page["clock"] = clock.isoformat() if clock else None
    page["headerUrl"] = reverse("dashboard:inventory-header", args=[kind, pk])
    if kind == "host":
        page["esxtopUrl"] = reverse("dashboard:host-esxtop", args=[pk])
    if kind == "vm":
        page["poweredOn"] = obj.powered_on
    return {
        "kind": kind,
        "obj": obj,
        "tab": tab,
        "selected_key": f"{kind}-{pk}",
        "header": _header(kind, obj),
        "crumbs": _path(obj),
        "summary_url": reverse(f"dashboard:{kind}", args=[pk]),
        "performance_url": reverse(f"dashboard:{kind}-performance", args=[pk]),
        "memory_map_url": reverse(f"dashboard:{kind}-memory-map", args=[pk])
        if kind != "pool"
        else None,
        "can_change": request.user.has_perm(change_permission(kind)),
        "page": page,
    }


def _settings_rows(host: Host, group: dict) -> list[tuple]:
    """(name, value, minimum, maximum, description) of each number setting of `group`; the
    salting setting is a choice, shown on its own."""
    current = host.settings
    return [
        (name, current[name], setting.minimum, setting.maximum, setting.description)
        for name, setting in group.items()
        if name != SHARE_FORCE_SALTING
    ]


def _lab_context(kind: str, obj) -> dict:
    if kind == "vm":
        return {"mmu_modes": MMU_MODE_CHOICES, "shares_levels": SharesLevel.choices}
    if kind == "host":
        return {
            "setting_groups": [
                ("Transparent page sharing", _settings_rows(obj, engine.TPS_SETTINGS)),
                ("Memory under contention", _settings_rows(obj, engine.CONTENTION_SETTINGS)),
            ],
            "salting": obj.settings[SHARE_FORCE_SALTING],
            "salting_choices": SALTING_CHOICES,
            "fast_forward_choices": FAST_FORWARD_CHOICES,
            # The newest job, so a reload keeps showing a running fast-forward's progress.
            "advance_job": obj.advance_jobs.first(),
        }
    return {}


# --------------------------------------------------------------------------- inventory


@require_safe
def inventory(request):
    hosts = []
    if request.user.has_perm(view_permission("host")):
        counts: dict[int, list[int]] = {}
        for host_id, state in VirtualMachine.objects.values_list("host_id", "power_state"):
            on_total = counts.setdefault(host_id, [0, 0])
            on_total[0] += state == PowerState.POWERED_ON
            on_total[1] += 1
        for host in Host.objects.order_by("name"):
            usage = summaries.host_usage(host)
            on, total = counts.get(host.pk, (0, 0))
            hosts.append({"host": host, "usage": usage, "vms_on": on, "vms_total": total})
    return render(request, "dashboard/inventory.html", {"hosts": hosts, "selected_key": ""})


@require_safe
@never_cache
def inventory_tree(request):
    """The tree alone, rendered by the partial every page includes, for a tab to swap in after an
    inventory message; `?selected=vm-42` marks the tab's current object as the page did."""
    selected = request.GET.get("selected", "")
    return render(
        request,
        "dashboard/_tree.html",
        {"selected_key": selected if TREE_KEY.fullmatch(selected) else ""},
    )


@require_safe
@never_cache
def inventory_header(request, kind, pk):
    """The object header alone (icon, location, name, state badge), rendered by the partial every
    object page includes, for a tab to swap in after an inventory message."""
    obj = _visible(request, kind, pk)
    context = {"obj": obj, "header": _header(kind, obj), "crumbs": _path(obj)}
    return render(request, "dashboard/_object_header.html", context)


# --------------------------------------------------------------------------- summaries


@require_safe
def host_summary(request, pk):
    host = _visible(request, "host", pk)
    root = ResourcePool.objects.filter(host=host, is_root=True).first()
    context = _object_context(request, "host", host, "summary")
    usage = summaries.host_usage(host)
    contention = summaries.vm_contention(host)
    vms = list(VirtualMachine.objects.filter(host=host).order_by("name"))
    context.update(
        usage=usage,
        memory_state=summaries.memory_state(host, usage),
        vm_rows=[(vm, contention.get(vm.pk)) for vm in vms],
        root_pool=root,
        root_allocation=summaries.allocation_rows(root) if root else [],
        root_runtime=summaries.pool_runtime(root) if root else None,
        vms=vms,
        **_lab_context("host", host),
    )
    return render(request, "dashboard/host_summary.html", context)


@require_safe
def pool_summary(request, pk):
    pool = _visible(request, "pool", pk)
    contention = summaries.vm_contention(pool.host)
    context = _object_context(request, "pool", pool, "summary")
    context.update(
        allocation=summaries.allocation_rows(pool),
        runtime=summaries.pool_runtime(pool),
        memory=summaries.pool_memory(pool),
        child_pools=pool.children.order_by("name"),
        child_vms=[(vm, contention.get(vm.pk)) for vm in pool.vms.order_by("name")],
        host_usage=summaries.host_usage(pool.host),
    )
    return render(request, "dashboard/pool_summary.html", context)


@require_safe
def vm_summary(request, pk):
    vm = _visible(request, "vm", pk)
    context = _object_context(request, "vm", vm, "summary")
    context.update(
        memory=summaries.vm_memory(vm),
        allocation=summaries.allocation_rows(vm),
        host_usage=summaries.host_usage(vm.host),
        operations=vm.guest_operations.order_by("-id")[:5],
        **_lab_context("vm", vm),
    )
    return render(request, "dashboard/vm_summary.html", context)


# --------------------------------------------------------------------------- performance


def _performance(request, kind: str, pk: int):
    obj = _visible(request, kind, pk)
    views = PERFORMANCE_VIEWS[kind]
    view = request.GET.get("view", views[0])
    if view not in views:
        view = views[0]
    context = _object_context(request, kind, obj, "performance")
    page = context["page"]
    page["view"] = view
    page["counters"] = catalogue_json(kind)
    page["maxCounters"] = MAX_COUNTERS
    page["overview"] = overview_keys(kind)
    context.update(
        view=view,
        views=views,
        initial=run_query(StatsQuery(kind, obj.pk, tuple(overview_keys(kind))))
        if view == "overview"
        else None,
        esxtop=summaries.esxtop(obj) if view == "esxtop" else None,
        **_lab_context(kind, obj),
    )
    return render(request, "dashboard/performance.html", context)


@require_safe
def host_performance(request, pk):
    return _performance(request, "host", pk)


@require_safe
def pool_performance(request, pk):
    return _performance(request, "pool", pk)


@require_safe
def vm_performance(request, pk):
    return _performance(request, "vm", pk)


@require_safe
def host_esxtop(request, pk):
    """The esxtop panel alone, for the host page to refresh after each sample."""
    host = _visible(request, "host", pk)
    return render(
        request, "dashboard/_esxtop.html", {"esxtop": summaries.esxtop(host), "obj": host}
    )
