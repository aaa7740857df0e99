"""The simulation engine: ESXi host memory, page by page (DESIGN.md 4 and 7).

Pure numpy and the standard library: no Django, no I/O, simulated time, seeded randomness.

    host.py               HostSim and VMConfig: the public interface
    machine.py            machine frames: content id, reference count, free frames
    vmm.py                one running VM: its pmap and the write path (first touch, copy-on-write)
    guest.py              the guest OS: page lists, boot, workloads, the lab's toucher process
    presets.py            guest OS and workload presets
    content.py            page contents as 64-bit ids: zero page, OS/application images, unique data
    sharing.py            transparent page sharing: sharing domains, scanning, shared-frame accounting
    share_table.py        the share table (shared frames and hints, keyed by content)
    advanced_settings.py  Mem.Share* settings, scan rates, salting
    active.py             active memory by sampling (Waldspurger 2002, 5.3)
    mmu.py                the lab's MMU overhead counter (shadow page tables vs EPT/RVI)
    overhead.py           per-VM overhead memory and the VMkernel's own use
    counters.py           vSphere counters, esxtop's memory screen
    snapshot.py           the snapshot format (no pickle)
    audit.py              a from-scratch consistency check, for tests and diagnostics
"""

from hostsim.engine.advanced_settings import TPS_SETTINGS
from hostsim.engine.errors import EngineError, EngineInvariantError, InsufficientMemoryError
from hostsim.engine.host import HostSim, VMConfig
from hostsim.engine.mmu import MMU_MODES
from hostsim.engine.presets import GUEST_OS_PRESETS, WORKLOAD_PRESETS

GUEST_OS_NAMES = tuple(GUEST_OS_PRESETS)
WORKLOAD_NAMES = tuple(WORKLOAD_PRESETS)

__all__ = [
    "GUEST_OS_NAMES",
    "GUEST_OS_PRESETS",
    "MMU_MODES",
    "TPS_SETTINGS",
    "WORKLOAD_NAMES",
    "WORKLOAD_PRESETS",
    "EngineError",
    "EngineInvariantError",
    "HostSim",
    "InsufficientMemoryError",
    "VMConfig",
]
