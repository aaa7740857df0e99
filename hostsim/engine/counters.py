"""What the engine reports: vSphere `mem` counters, the lab's own counters, esxtop's memory screen.

Definitions follow the vSphere Resource Management guide, "Measuring and Differentiating Types of
Memory Usage", the vSphere API's memory counters, and DESIGN.md 4 and 4b. Everything is read from
running totals the engine keeps as pages change; nothing here walks memory.

Units, as vSphere's QueryPerf returns them: KB unless noted; rates in KBps (over the last
real-time interval, 20 s); percentages (`mem.usage`, `mem.latency`) as integer hundredths of a
percent (1234 is 12.34%); `mem.totalCapacity` and `mem.reservedCapacity` in MB; `mem.state` the
free memory state, 0 high, 1 clear, 2 soft, 3 hard, 4 low (the lab's encoding: vSphere 6.0 added
"clear" to the API's 0-3). `lab.mmu.overhead` is the lab's own, a float percent; `lab.largepages`
the lab's own, KB of guest memory backed by 2 MB large pages.
"""

import math

from hostsim.engine import mmu
from hostsim.engine.advanced_settings import CTL_MAX_PERCENT
from hostsim.engine.free_memory import STATE_NAMES
from hostsim.engine.machine import LARGE_PAGE_PAGES, PAGE_SIZE_KB, PAGES_PER_MB, MachineMemory
from hostsim.engine.overhead import vmkernel_reserved_mb
from hostsim.engine.vmm import RunningVM

VM_COUNTERS = (
    "mem.granted",  # guest pages mapped to machine frames
    "mem.consumed",  # granted minus sharing savings, each shared frame charged in equal parts
    "mem.shared",  # guest pages mapped to a frame other guest pages map too
    "mem.zero",  # shared guest pages holding the zero page
    "mem.active",  # sampled estimate of recently touched guest memory
    "mem.overhead",  # host memory for the VM's own virtualization structures
    "mem.vmmemctl",  # guest memory the balloon driver holds
    "mem.vmmemctltarget",  # what the balloon driver is asked to hold
    "mem.swapped",  # guest memory in the VM's swap file
    "mem.swaptarget",  # what the host means to have swapped or compressed
    "mem.swapin",  # KB read back from the swap file since power-on
    "mem.swapout",  # KB written to the swap file since power-on
    "mem.swapinRate",  # KBps
    "mem.swapoutRate",  # KBps
    "mem.compressed",  # guest memory held compressed in the VM's compression cache
    "mem.zipSaved",  # what compression saves: compressed minus the cache it takes
    "mem.compressionRate",  # KBps of guest memory compressed
    "mem.decompressionRate",  # KBps decompressed
    "mem.latency",  # share of time spent waiting for swapped or compressed memory, 1/100 %
    "mem.entitlement",  # the memory the VM is entitled to (DESIGN.md 4b)
    "mem.usage",  # active / configured, 1/100 %
    "lab.mmu.overhead",  # % of vCPU time lost to MMU virtualization
    "lab.guest.used",  # guest physical memory on the guest OS's allocated lists
    "lab.guest.virtual",  # virtual memory the guest's processes reserved
    "lab.guest.resident",  # their virtual pages mapped to guest physical pages
    "lab.shadow.entries",  # shadow page-table entries (software MMU): number
    "lab.shadow.syncs",  # guest page-table updates trapped to sync them: per second
    "lab.tlb.misses",  # TLB misses, all vCPUs: per second
    "lab.tlb.walkrefs",  # memory references per TLB miss: number
    "lab.largepages",  # guest memory backed by 2 MB large pages
)

HOST_COUNTERS = (
    "mem.granted",  # sum over powered-on VMs
    "mem.consumed",  # machine memory in use: total minus free
    "mem.shared",  # sum over VMs
    "mem.sharedcommon",  # machine frames backing shared pages
    "mem.zero",
    "mem.active",
    "mem.overhead",
    "mem.vmmemctl",  # sum over VMs
    "mem.swapped",  # sum over VMs
    "mem.swapused",  # swap space in use: the VMs' swapped memory
    "mem.compressed",  # sum over VMs
    "mem.swapinRate",  # KBps, sum over VMs
    "mem.swapoutRate",  # KBps, sum over VMs
    "mem.state",  # free memory state, 0 high .. 4 low
    "mem.lowfreethreshold",  # minFree, KB: reclamation begins below it
    "mem.usage",  # consumed / host memory, 1/100 %
    "mem.totalCapacity",  # MB VMs may reserve, host memory minus VMkernel ("Total reservation")
    "mem.reservedCapacity",  # MB reserved by powered-on VMs: reservations and overheads
    "mem.sysUsage",  # the VMkernel's own memory
    "lab.pshare.saving",  # shared - sharedcommon: what page sharing saves (esxtop PSHARE saving)
    "lab.largepages",  # sum over VMs
)


def active_pages(vm: RunningVM) -> int:
    return round(vm.active.estimate * vm.pages)


def _hundredths(part: float, whole: float) -> int:
    return round(10_000 * part / whole) if whole else 0


def _cache_kb(vm: RunningVM) -> int:
    return vm.cache_frames * PAGE_SIZE_KB


def large_pages(vm: RunningVM) -> int:
    """Guest pages large pages back."""
    return vm.large_count * LARGE_PAGE_PAGES


def vm_counters(vm: RunningVM | None) -> dict:
    if vm is None:  # powered off: nothing granted, nothing running
        return {name: (0.0 if name == "lab.mmu.overhead" else 0) for name in VM_COUNTERS}
    active = active_pages(vm)
    kb = PAGE_SIZE_KB
    return {
        "mem.granted": vm.granted * kb,
        "mem.consumed": round(vm.consumed * kb),
        "mem.shared": vm.shared * kb,
        "mem.zero": vm.zero * kb,
        "mem.active": active * kb,
        "mem.overhead": vm.overhead_pages * kb,
        "mem.vmmemctl": vm.ballooned * kb,
        "mem.vmmemctltarget": vm.balloon_target * kb,
        "mem.swapped": vm.swapped * kb,
        "mem.swaptarget": vm.swap_target * kb,
        "mem.swapin": round(vm.stats["swapin_kb"]),
        "mem.swapout": round(vm.stats["swapout_kb"]),
        "mem.swapinRate": round(vm.rates["swapin"]),
        "mem.swapoutRate": round(vm.rates["swapout"]),
        "mem.compressed": vm.compressed * kb,
        "mem.zipSaved": vm.compressed * kb - _cache_kb(vm),
        "mem.compressionRate": round(vm.rates["compress"]),
        "mem.decompressionRate": round(vm.rates["decompress"]),
        "mem.latency": vm.latency,
        "mem.entitlement": round(vm.entitlement * kb),
        "mem.usage": _hundredths(active, vm.pages),
        "lab.guest.used": vm.guest.used_pages * kb,
        "lab.largepages": large_pages(vm) * kb,
    } | mmu_counters(vm)


def mmu_counters(vm: RunningVM) -> dict:
    """The three layers' counters: virtual and resident memory, shadow tables, the TLB."""
    spaces = vm.guest.spaces
    vcpus = vm.guest.vcpus
    cost = mmu.cost(vm.mmu_mode, vm.mmu_activity, vm.large_fraction)
    software = vm.mmu_mode == mmu.SOFTWARE
    return {
        "lab.mmu.overhead": round(cost["overhead_percent"], 2),
        "lab.guest.virtual": spaces.virtual * PAGE_SIZE_KB,
        "lab.guest.resident": spaces.resident * PAGE_SIZE_KB,
        "lab.shadow.entries": spaces.resident if software else 0,
        "lab.shadow.syncs": round(cost["syncs_per_s"] * vcpus),
        "lab.tlb.misses": round(cost["tlb_misses_per_s"] * vcpus),
        "lab.tlb.walkrefs": cost["walk_refs"],
    }


def host_counters(
    machine: MachineMemory, running: list[RunningVM], scheduler, host_memory_mb: int
) -> dict:
    kb = PAGE_SIZE_KB
    overhead = sum(vm.overhead_pages for vm in running)
    shared = sum(vm.shared for vm in running)
    consumed = machine.frames - machine.free
    swapped = sum(vm.swapped for vm in running)
    reserved = sum(vm.reservation for vm in running) + overhead
    return {
        "mem.granted": sum(vm.granted for vm in running) * kb,
        "mem.consumed": consumed * kb,
        "mem.shared": shared * kb,
        "mem.sharedcommon": machine.shared_frames * kb,
        "mem.zero": sum(vm.zero for vm in running) * kb,
        "mem.active": sum(active_pages(vm) for vm in running) * kb,
        "mem.overhead": overhead * kb,
        "mem.vmmemctl": sum(vm.ballooned for vm in running) * kb,
        "mem.swapped": swapped * kb,
        "mem.swapused": swapped * kb,
        "mem.compressed": sum(vm.compressed for vm in running) * kb,
        "mem.swapinRate": round(sum(vm.rates["swapin"] for vm in running)),
        "mem.swapoutRate": round(sum(vm.rates["swapout"] for vm in running)),
        "mem.state": scheduler.state,
        "mem.lowfreethreshold": scheduler.min_free * kb,
        "mem.usage": _hundredths(consumed, machine.frames),
        "mem.totalCapacity": host_memory_mb - vmkernel_reserved_mb(host_memory_mb),
        "mem.reservedCapacity": math.ceil(reserved / PAGES_PER_MB),
        "mem.sysUsage": (machine.reserved - overhead) * kb,
        "lab.pshare.saving": (shared - machine.shared_frames) * kb,
        "lab.largepages": sum(large_pages(vm) for vm in running) * kb,
    }


def esxtop(machine: MachineMemory, running: list[tuple[str, RunningVM]], scheduler) -> dict:
    """esxtop's memory screen (`m`), in MB: PMEM with the state, PSHARE, MEMCTL, SWAP, ZIP, the
    lab's LPAGE (guest memory large pages back), and one row per running VM.
    """
    vms = [vm for _, vm in running]
    overhead = sum(vm.overhead_pages for vm in vms)
    shared = sum(vm.shared for vm in vms)
    total = machine.frames // PAGES_PER_MB
    vmk = round((machine.reserved - overhead) / PAGES_PER_MB)
    other = round((machine.in_use + overhead + machine.zip_frames) / PAGES_PER_MB)

    def mb(pages: float) -> float:
        return round(pages / PAGES_PER_MB, 2)

    def mb_per_s(kbps: float) -> float:
        return round(kbps / 1024, 2)

    def balloon_max(vm: RunningVM) -> int:
        if not vm.balloon_driver:
            return 0
        return min(vm.pages * vm.settings[CTL_MAX_PERCENT] // 100, vm.pages - vm.reservation)

    return {
        "PMEM": {
            "total": total,
            "vmk": vmk,
            "other": other,
            "free": total - vmk - other,
            "state": STATE_NAMES[scheduler.state],
            "minfree": mb(scheduler.min_free),
        },
        "PSHARE": {
            "shared": round(shared / PAGES_PER_MB),
            "common": round(machine.shared_frames / PAGES_PER_MB),
            "saving": round((shared - machine.shared_frames) / PAGES_PER_MB),
        },
        "MEMCTL": {
            "curr": mb(sum(vm.ballooned for vm in vms)),
            "target": mb(sum(vm.balloon_target for vm in vms)),
            "max": mb(sum(balloon_max(vm) for vm in vms)),
        },
        "SWAP": {
            "curr": mb(sum(vm.swapped for vm in vms)),
            "rclmtgt": mb(sum(vm.swap_target for vm in vms)),
            "r/s": mb_per_s(sum(vm.rates["swapin"] for vm in vms)),
            "w/s": mb_per_s(sum(vm.rates["swapout"] for vm in vms)),
        },
        "ZIP": {
            "zipped": mb(sum(vm.compressed for vm in vms)),
            "saved": mb(sum(vm.compressed - vm.cache_frames for vm in vms)),
        },
        "LPAGE": {"backed": mb(sum(large_pages(vm) for vm in vms))},
        "vms": [
            {
                "id": vm.id,
                "name": name,
                "memsz": mb(vm.pages),
                "grant": mb(vm.granted),
                "consumed": mb(vm.consumed),
                "shared": mb(vm.shared),
                "zero": mb(vm.zero),
                "shrdsvd": mb(vm.granted - vm.consumed),
                "tchd": mb(active_pages(vm)),
                "overhead": mb(vm.overhead_pages),
                "mctl": vm.balloon_driver,
                "mctlsz": mb(vm.ballooned),
                "mctltgt": mb(vm.balloon_target),
                "mctlmax": mb(balloon_max(vm)),
                "swcur": mb(vm.swapped),
                "swtgt": mb(vm.swap_target),
                "swr/s": mb_per_s(vm.rates["swapin"]),
                "sww/s": mb_per_s(vm.rates["swapout"]),
                "zip": mb(vm.compressed),
                "zipsaved": mb(vm.compressed - vm.cache_frames),
                "entitlement": mb(vm.entitlement),
                "large": mb(large_pages(vm)),
            }
            for name, vm in running
        ],
    }
