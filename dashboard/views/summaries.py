"""What the Summary tabs and the esxtop panel show, read from the models and the latest samples.

Read-only: nothing here changes state. Memory figures are turned into MB for people (samples are
stored in KB like the vSphere API).
"""

from dataclasses import dataclass

from dashboard.stats import latest_tick, latest_values
from hostsim.models import Host, VirtualMachine
from pools import admission, services
from pools.models import ResourcePool
from pools.shares import share_value


def mb(kb) -> float | None:
    return None if kb is None else kb / 1024


def _in_mb(values: dict) -> dict:
    """{"granted": MB, "sharedcommon": MB, ...} for the KB counters of a sample."""
    return {
        name.split(".", 1)[1]: mb(value)
        for name, value in values.items()
        if name.startswith("mem.") and name != "mem.usage" and isinstance(value, (int, float))
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
            "CPU", "MHz", obj.cpu_reservation, obj.cpu_limit, obj.get_cpu_shares_level_display(),
            _shares(kind, "cpu", obj.cpu_shares_level, obj.cpu_shares, vcpus, memory_mb),
            obj.cpu_expandable if kind == "pool" else None,
        ),
        AllocationRow(
            "Memory", "MB", obj.mem_reservation, obj.mem_limit, obj.get_mem_shares_level_display(),
            _shares(kind, "memory", obj.mem_shares_level, obj.mem_shares, vcpus, memory_mb),
            obj.mem_expandable if kind == "pool" else None,
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
    }


def pool_memory(pool: ResourcePool) -> dict:
    ts, values = latest_values("pool", pool.pk)
    return {"ts": ts, "mb": _in_mb(values)}


# --------------------------------------------------------------------------- esxtop


@dataclass(frozen=True)
class EsxtopVm:
    id: int
    name: str
    memsz: float
    grant: float
    cnsm: float
    shrd: float
    zero: float
    ovhd: float


def esxtop(host: Host) -> dict:
    """esxtop's memory screen (`m`) for one host, from its newest tick, in MB.

    PMEM: total machine memory; vmk what the VMkernel itself uses (mem.sysUsage, or where a row
    lacks it, host consumed minus what the VMs consume with their overhead); other the rest of
    host consumed; free what is not consumed.
    PSHARE: shared guest memory, the common frames backing it, and the saving between them.
    """
    ts, rows = latest_tick(host.pk)
    host_values = rows.get(("host", host.pk), {})
    vm_rows = {entity_id: values for (kind, entity_id), values in rows.items() if kind == "vm"}
    configured = {
        pk: (name, memory_mb)
        for pk, name, memory_mb in VirtualMachine.objects.filter(pk__in=list(vm_rows)).values_list(
            "pk", "name", "memory_mb"
        )
    }
    vms = sorted(
        (
            EsxtopVm(
                vm_id,
                configured[vm_id][0],
                float(configured[vm_id][1]),
                mb(values.get("mem.granted", 0)),
                mb(values.get("mem.consumed", 0)),
                mb(values.get("mem.shared", 0)),
                mb(values.get("mem.zero", 0)),
                mb(values.get("mem.overhead", 0)),
            )
            for vm_id, values in vm_rows.items()
            if vm_id in configured
        ),
        key=lambda row: (-row.cnsm, row.name),
    )
    total = mb(host_values["mem.totalCapacity"]) if "mem.totalCapacity" in host_values else float(host.memory_mb)
    consumed = mb(host_values.get("mem.consumed", 0))
    if "mem.sysUsage" in host_values:  # the engine reports the VMkernel's own use
        vmk = mb(host_values["mem.sysUsage"])
        other = max(0.0, consumed - vmk)
    else:
        other = sum(row.cnsm + row.ovhd for row in vms)
        vmk = max(0.0, consumed - other)
    shared = mb(host_values.get("mem.shared", 0))
    common = mb(host_values.get("mem.sharedcommon", 0))
    return {
        "ts": ts,
        "pmem": {
            "total": total,
            "vmk": vmk,
            "other": other,
            "free": max(0.0, total - consumed),
        },
        "pshare": {"shared": shared, "common": common, "saving": max(0.0, shared - common)},
        "vms": vms,
    }
