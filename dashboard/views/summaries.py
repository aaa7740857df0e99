"""What the Summary tabs and the esxtop panel show, read from the models and the latest samples.

Read-only: nothing here changes state. Memory figures are turned into MB for people (samples are
stored in KB like the vSphere API).
"""

from dataclasses import dataclass

from dashboard.counters import CATALOGUE
from dashboard.stats import latest_tick, latest_values
from hostsim import engine
from hostsim.engine.advanced_settings import ALLOC_GUEST_LARGE_PAGE, MEM_MIN_FREE_PCT
from hostsim.engine.free_memory import STATE_THRESHOLDS
from hostsim.models import Host, HostView, VirtualMachine
from pools import admission, services
from pools.models import ResourcePool
from pools.shares import share_value


def mb(kb) -> float | None:
    return None if kb is None else kb / 1024


def _in_mb(values: dict) -> dict:
    """{"granted": MB, "sharedcommon": MB, ...} for the KB counters of a sample (the catalogue
    says which are in KB: not mem.usage, mem.state, the MB capacities or the KBps rates)."""
    return {
        name.split(".", 1)[1]: mb(value)
        for name, value in values.items()
        if name.startswith("mem.")
        and name in CATALOGUE
        and CATALOGUE[name].unit == "KB"
        and isinstance(value, (int, float))
    }


def percent(part, whole) -> float:
    if not whole or part is None:
        return 0.0
    return max(0.0, min(100.0, 100.0 * part / whole))


# --------------------------------------------------------------------------- allocation


@dataclass(frozen=True)
class AllocationRow:
    resource: str  # "CPU" | "Memory"
    unit: str
    reservation: int
    limit: int  # -1: unlimited
    shares_level: str
    shares: int
    expandable: bool | None  # pools only

    @property
    def unlimited(self) -> bool:
        return self.limit == admission.UNLIMITED


def _shares(kind: str, resource: str, level: str, custom: int, vcpus=None, memory_mb=None) -> int:
    try:
        return share_value(kind, resource, level, vcpus=vcpus, memory_mb=memory_mb, custom=custom)
    except ValueError:
        return custom


def allocation_rows(obj: VirtualMachine | ResourcePool) -> list[AllocationRow]:
    kind = "vm" if isinstance(obj, VirtualMachine) else "pool"
    vcpus = getattr(obj, "vcpus", None)
    memory_mb = getattr(obj, "memory_mb", None)
    return [
        AllocationRow(
            "CPU",
            "MHz",
            obj.cpu_reservation,
            obj.cpu_limit,
            obj.get_cpu_shares_level_display(),
            _shares(kind, "cpu", obj.cpu_shares_level, obj.cpu_shares, vcpus, memory_mb),
            obj.cpu_expandable if kind == "pool" else None,
        ),
        AllocationRow(
            "Memory",
            "MB",
            obj.memory_reservation,
            obj.memory_limit,
            obj.get_memory_shares_level_display(),
            _shares(kind, "memory", obj.memory_shares_level, obj.memory_shares, vcpus, memory_mb),
            obj.memory_expandable if kind == "pool" else None,
        ),
    ]


def pool_runtime(pool: ResourcePool) -> dict | None:
    """ResourcePoolRuntimeInfo of one pool: {"cpu": {...}, "memory": {...}} (MHz / MB)."""
    try:
        return services.runtime(pool.host_id).get(pool.pk)
    except ValueError:  # a tree admission control cannot read (no root pool yet)
        return None


# --------------------------------------------------------------------------- memory views


def host_usage(host: Host) -> dict:
    """The host memory bar: consumed and shared-common against installed memory, in MB."""
    ts, values = latest_values("host", host.pk)
    total = host.memory_mb
    consumed = mb(values.get("mem.consumed"))
    shared = mb(values.get("mem.shared")) or 0.0
    common = mb(values.get("mem.sharedcommon")) or 0.0
    return {
        "ts": ts,
        "total": total,
        "total_kb": total * 1024,
        "consumed": consumed,
        "free": None if consumed is None else max(0.0, total - consumed),
        "consumed_pct": percent(consumed, total),
        "shared": shared,
        "common": common,
        "saving": max(0.0, shared - common),
        "mb": _in_mb(values),
        "state": values.get("mem.state"),
        "large_pages": mb(values.get("lab.largepages")),
    }


def vm_memory(vm: VirtualMachine) -> dict:
    """The guest's view (allocated vs free of configured memory) beside the hypervisor's."""
    ts, values = latest_values("vm", vm.pk)
    configured = vm.memory_mb
    used = mb(values.get("lab.guest.used"))
    granted = mb(values.get("mem.granted"))
    return {
        "ts": ts,
        "configured": configured,
        "configured_kb": configured * 1024,
        "guest_used": used,
        "guest_free": None if used is None else max(0.0, configured - used),
        "guest_used_pct": percent(used, configured),
        "granted": granted,
        "granted_pct": percent(granted, configured),
        "consumed": mb(values.get("mem.consumed")),
        "consumed_pct": percent(mb(values.get("mem.consumed")), configured),
        "shared": mb(values.get("mem.shared")),
        "zero": mb(values.get("mem.zero")),
        "active": mb(values.get("mem.active")),
        "overhead": mb(values.get("mem.overhead")),
        "unmapped": None if granted is None else max(0.0, configured - granted),
        "mmu_overhead": values.get("lab.mmu.overhead"),
        "large_pages": mb(values.get("lab.largepages")),
        "entitlement": mb(values.get("mem.entitlement")),
        "balloon": mb(values.get("mem.vmmemctl")),
        "swapped": mb(values.get("mem.swapped")),
        "compressed": mb(values.get("mem.compressed")),
        "latency": None if values.get("mem.latency") is None else values["mem.latency"] / 100,
    }


# What each free memory state adds, as the host enters it (DESIGN.md 4b,
# hostsim.engine.free_memory).
STATE_ACTIONS = {
    "high": "Large pages are broken below 4x minFree; page sharing works at its normal pace.",
    "clear": (
        "Large pages are broken faster and page sharing is called actively: every VM is "
        "scanned at Mem.ShareRateMax."
    ),
    "soft": "The balloon drivers inflate in VMs above their entitlement.",
    "hard": "Ballooning stops; pages are compressed or swapped by the host.",
    "low": "VMs above their entitlement stall until the host frees memory for them.",
}


def memory_state(host: Host, usage: dict) -> dict:
    """The host's free memory state with its thresholds, in MB, from the newest sample (the one
    `usage`, host_usage's answer, was read from)."""
    min_free_pct = host.settings[MEM_MIN_FREE_PCT]
    min_free = engine.min_free_mb(host.memory_mb, min_free_pct)
    state = usage["state"]
    begins = (4.0, *STATE_THRESHOLDS)  # "high" lists where large pages start breaking
    return {
        "ts": usage["ts"],
        "state": None if state is None else engine.STATE_NAMES[int(state)],
        "min_free": min_free,
        "min_free_pct": min_free_pct,
        "free": usage["free"],
        "thresholds": [
            {"name": name, "below": share * min_free, "share": share, "action": STATE_ACTIONS[name]}
            for name, share in zip(engine.STATE_NAMES, begins, strict=True)
        ],
        "large_pages": large_pages(host, usage),
    }


def large_pages(host: Host, usage: dict) -> dict:
    """Whether the host backs guest memory with 2 MB large pages (VMware KB 1021095: hardware-MMU
    VMs, Mem.AllocGuestLargePage 1), and how much the newest sample says they back, in MB."""
    setting = host.settings[ALLOC_GUEST_LARGE_PAGE]
    if not host.hardware_mmu:
        why = "off: the host's CPU has no hardware MMU, and software-MMU VMs use 4 KB pages"
    elif not setting:
        why = "off: Mem.AllocGuestLargePage is 0"
    else:
        why = "on: hardware-MMU VMs get 2 MB pages while free memory is at least 4x minFree"
    return {
        "enabled": bool(host.hardware_mmu and setting),
        "why": why,
        "backed": usage["large_pages"],
    }


def vm_contention(host: Host) -> dict[int, dict]:
    """Per VM of the host, from the newest tick: entitlement, balloon, swapped, compressed (MB)."""
    _ts, rows = latest_tick(host.pk)
    names = ("entitlement", "vmmemctl", "swapped", "compressed")
    return {
        entity_id: {name: mb(values.get(f"mem.{name}")) for name in names}
        for (kind, entity_id), values in rows.items()
        if kind == "vm"
    }


def pool_memory(pool: ResourcePool) -> dict:
    ts, values = latest_values("pool", pool.pk)
    return {"ts": ts, "mb": _in_mb(values)}


# --------------------------------------------------------------------------- esxtop


def esxtop(host: Host) -> dict:
    """esxtop's memory screen (`m`) for one host as the engine drew it at its newest tick
    (hostsim.engine.counters.esxtop, stored with the tick as HostView), in MB; rows of VMs
    deleted since are left out, heaviest consumers first."""
    view = HostView.objects.filter(host=host).first()
    if view is None:
        return {"ts": None, "vms": []}
    screen = view.esxtop
    names = dict(VirtualMachine.objects.filter(host=host).values_list("pk", "name"))
    vms = [
        {
            **row,
            "name": names[row["id"]],
            "swr": row["swr/s"],  # the template language cannot read "swr/s"
            "sww": row["sww/s"],
        }
        for row in screen["vms"]
        if row["id"] in names
    ]
    vms.sort(key=lambda row: (-row["consumed"], row["name"]))
    swap = screen["SWAP"]
    return {
        "ts": view.ts,
        "pmem": screen["PMEM"],
        "pshare": screen["PSHARE"],
        "memctl": screen["MEMCTL"],
        "swap": {**swap, "r": swap["r/s"], "w": swap["w/s"]},
        "zip": screen["ZIP"],
        "lpage": screen.get("LPAGE", {"backed": 0}),  # ticks stored before large pages had none
        "vms": vms,
    }
