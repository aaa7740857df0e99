"""The simulation engine: ESXi host memory, page by page (DESIGN.md 4 and 7).

Pure numpy and the standard library: no Django, no I/O, simulated time, seeded randomness.
"""

from hostsim.engine.errors import EngineError, EngineInvariantError, InsufficientMemoryError
from hostsim.engine.host import HostSim, VMConfig
from hostsim.engine.mmu import MMU_MODES
from hostsim.engine.presets import GUEST_OS_PRESETS, WORKLOAD_PRESETS
from hostsim.engine.sharing import TPS_SETTINGS

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
