"""The Memory map tab of a VM (guest virtual, guest physical and machine lanes, traced pages, the
MMU panel) and of a host (machine memory by owner), and the JSON they refresh from.

The maps come from the worker that holds the host's engine, through Redis (`hostsim.layers`):
asking for a map marks it watched, and the next tick draws it. Same access rules as the other
object pages: a login, the object's view permission (403), an unknown id is a 404.
"""

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from redis.exceptions import RedisError

from dashboard.counters import CATALOGUE, LARGE_PAGES_RULE
from dashboard.views.pages import _lab_context, _object_context, _visible
from hostsim import layers

# The guest physical states (hostsim.engine.memory_map.VM_STATES) as the legend shows them, with
# the counter each one is part of, so the colours are the charts' colours.
LARGE_LEGEND = ("large", "Large pages (2 MB, never shared)", "lab.largepages")
VM_LEGEND = (
    ("private", "Granted, private", "mem.granted"),
    ("shared", "Shared", "mem.shared"),
    ("zero", "Zero (shared zero pages)", "mem.zero"),
    ("guest_free", "Free in the guest, still granted", "lab.guest.used"),
    LARGE_LEGEND,
    ("ballooned", "Ballooned", "mem.vmmemctl"),
    ("swapped", "Swapped", "mem.swapped"),
    ("compressed", "Compressed", "mem.compressed"),
    ("untouched", "Untouched (no frame)", None),
)
UNTOUCHED_COLOUR = "#e4e4e4"
GUEST_FREE_COLOUR = "#9cc3d5"  # lighter than Granted: backed, but on the guest's free list
HOST_LEGEND = (
    ("shared", "Shared frames", "mem.sharedcommon"),
    LARGE_LEGEND,  # hatched over the VMs' colours: a part of their frames, not an owner
    ("vmkernel", "VMkernel", "mem.sysUsage"),
    ("overhead", "VM overhead", "mem.overhead"),
    ("compression", "Compression caches", "mem.compressed"),
    ("free", "Free", None),
)
FREE_COLOUR = "#f2f2f2"
HOST_HATCHED = ("large",)  # drawn over the owners' colours in the host's map (`memmap.js`)


def _legend(rows, hatched=()) -> list[dict]:
    legend = []
    for state, label, counter in rows:
        if state == "guest_free":
            colour = GUEST_FREE_COLOUR
        elif counter is None:
            colour = UNTOUCHED_COLOUR if state == "untouched" else FREE_COLOUR
        else:
            colour = CATALOGUE[counter].colour
        legend.append(
            {
                "state": state,
                "label": label,
                "counter": counter,
                "colour": colour,
                "hatched": state in hatched,
            }
        )
    return legend


def _page(request, kind: str, pk: int):
    obj = _visible(request, kind, pk)
    context = _object_context(request, kind, obj, "memory-map")
    context["page"]["memoryMapUrl"] = reverse(f"dashboard:{kind}-memory-map-data", args=[pk])
    if kind == "vm":
        context["page"]["legend"] = _legend(VM_LEGEND)
    else:
        context["page"]["legend"] = _legend(HOST_LEGEND, HOST_HATCHED)
        context["large_pages_rule"] = LARGE_PAGES_RULE
    context.update(legend=context["page"]["legend"], **_lab_context(kind, obj))
    return render(request, f"dashboard/memory_map_{kind}.html", context)


@require_safe
def vm_memory_map(request, pk):
    return _page(request, "vm", pk)


@require_safe
def host_memory_map(request, pk):
    return _page(request, "host", pk)


@require_safe
@never_cache
def memory_map_data(request, kind, pk):
    _visible(request, kind, pk)
    try:
        layers.watch(kind, pk)
        data = layers.read(kind, pk)
    except RedisError:
        return JsonResponse(
            {"error": "The memory maps are unavailable: Redis does not answer."}, status=503
        )
    if data is None:
        return JsonResponse(
            {
                "ready": False,
                "message": "The map is drawn at the next sample (every 20 simulated seconds).",
            }
        )
    return JsonResponse({"ready": True} | data)
