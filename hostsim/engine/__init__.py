"""The simulation engine: ESXi host memory, page by page (DESIGN.md 4 and 7).

Pure numpy and the standard library: no Django, no I/O, simulated time, seeded randomness.

    host.py               HostSim and VMConfig: the public interface
    machine.py            machine frames: content id, reference count, free frames
    vmm.py                one running VM: its pmap, the write path, reclaiming and restoring pages
    guest.py              the guest OS: page lists, boot, workloads as processes, the toucher,
                          the balloon driver
    processes.py          guest processes: virtual memory areas, the guest page table
                          (virtual -> guest physical)
    presets.py            guest OS and workload presets
    content.py            page contents as 64-bit ids: zero page, OS/application images, unique data
    sharing.py            transparent page sharing: sharing domains, scanning, shared-frame
                          accounting
    share_table.py        the share table (shared frames and hints, keyed by content)
    advanced_settings.py  Mem.* advanced settings, scan rates, salting
    free_memory.py        minFree and the free memory states (high, clear, soft, hard, low)
    entitlement.py        the resource tree and the division of memory down it (shares, idle tax)
    memsched.py           the memory scheduler: states, entitlement, ballooning, swapping
    reclaim.py            swap and compression slots, compressibility, what reclamation costs
    active.py             active memory by sampling (Waldspurger 2002, 5.3)
    mmu.py                shadow page tables, the TLB, the nested walk: the lab's MMU counters
    memory_map.py         the memory maps (guest physical, machine) and pages traced through the
                          layers
    overhead.py           per-VM overhead memory and the VMkernel's own use
    counters.py           vSphere counters, esxtop's memory screen
    snapshot.py           the snapshot format (no pickle)
    audit.py              a from-scratch consistency check, for tests and diagnostics
"""

from hostsim.engine.advanced_settings import (
    ADVANCED_SETTINGS,
    CONTENTION_SETTINGS,
    TPS_SETTINGS,
    default_settings,
    validate_settings,
)
from hostsim.engine.errors import EngineError, EngineInvariantError, InsufficientMemoryError
from hostsim.engine.free_memory import STATE_NAMES, min_free_mb
from hostsim.engine.host import HostSim, VMConfig
from hostsim.engine.mmu import MMU_MODES
from hostsim.engine.overhead import vm_overhead_mb, vmkernel_reserved_mb
from hostsim.engine.presets import GUEST_OS_PRESETS, WORKLOAD_PRESETS

GUEST_OS_NAMES = tuple(GUEST_OS_PRESETS)
WORKLOAD_NAMES = tuple(WORKLOAD_PRESETS)

__all__ = [
    "ADVANCED_SETTINGS",
    "CONTENTION_SETTINGS",
    "GUEST_OS_NAMES",
    "GUEST_OS_PRESETS",
    "MMU_MODES",
    "STATE_NAMES",
    "TPS_SETTINGS",
    "WORKLOAD_NAMES",
    "WORKLOAD_PRESETS",
    "EngineError",
    "EngineInvariantError",
    "HostSim",
    "InsufficientMemoryError",
    "VMConfig",
    "default_settings",
    "min_free_mb",
    "validate_settings",
    "vm_overhead_mb",
    "vmkernel_reserved_mb",
]
