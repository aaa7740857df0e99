"""minFree and the host's free memory states (DESIGN.md 4b).

minFree is the free memory ESXi tries to keep. With Mem.MemMinFreePct 0 (the default) it follows
the sliding scale of ESXi 5.0 and later: 6% of the first 4 GB of host memory, 4% of the next 8 GB,
2% of the next 16 GB and 1% of the rest, so 899-901 MB for 28 GB and about 1925 MB for 128 GB
(vSphere Resource Management, "Memory Reclamation"; the vSphere Optimize and Scale course's table).
Otherwise it is that percentage of host memory.

Free memory states (vSphere 6.0 and later; each threshold is where its state begins as free memory
falls, vSphere Resource Management and Duncan Epping's table of the 6.0 states):

    high   free >= 100% of minFree   (below 400% large pages are broken: the large pages issue)
    clear  free <  100%              TPS is called actively
    soft   free <   64%              + ballooning
    hard   free <   32%              + compression and host swapping; ballooning stops
    low    free <   16%              + blocking: VMs above their target stall for new memory

The lab reports them in `mem.state` as 0 (high) to 4 (low). The vSphere API's own `mem.state`
counts 0 high to 3 low (ESX 4 to 5.5 had no clear state).

Hysteresis (Waldspurger 2002, section 6.3: the state machine keeps thresholds apart so that it
does not oscillate): a worse state begins as soon as free memory falls below its threshold; a
better one only once free memory has risen a margin above the threshold, HYSTERESIS x minFree.
"""

import math

from hostsim.engine.machine import PAGES_PER_MB

HIGH, CLEAR, SOFT, HARD, LOW = range(5)
STATE_NAMES = ("high", "clear", "soft", "hard", "low")
# Free memory below which clear, soft, hard and low begin, as a fraction of minFree
STATE_THRESHOLDS = (1.00, 0.64, 0.32, 0.16)
# What free memory must exceed a threshold by, as a fraction of minFree, before the state above
# it is entered again (our choice: about 108 MB on a 28 GB host, 49 MB on 8 GB; a smaller margin
# let a host whose guests keep touching memory flap between high and clear every tick).
HYSTERESIS = 0.12
# (MB of host memory, share of it kept free): ESXi's sliding scale
SLIDING_SCALE = ((4096, 0.06), (8192, 0.04), (16384, 0.02), (math.inf, 0.01))


def min_free_mb(host_memory_mb: float, min_free_pct: int = 0) -> float:
    """minFree in MB: the sliding scale, or Mem.MemMinFreePct percent of host memory."""
    if min_free_pct:
        return host_memory_mb * min_free_pct / 100
    left, total = float(host_memory_mb), 0.0
    for band_mb, share in SLIDING_SCALE:
        part = min(left, band_mb)
        total += part * share
        left -= part
        if left <= 0:
            break
    return total


def min_free_pages(host_memory_mb: float, min_free_pct: int = 0) -> int:
    return math.ceil(min_free_mb(host_memory_mb, min_free_pct) * PAGES_PER_MB)


def threshold_pages(state: int, min_free: int) -> float:
    """Free memory (pages) below which `state` (CLEAR .. LOW) begins."""
    return STATE_THRESHOLDS[state - 1] * min_free


def next_state(current: int, free: int, min_free: int) -> int:
    """The state after free memory became `free` pages, starting from `current`."""
    worse = sum(1 for share in STATE_THRESHOLDS if free < share * min_free)
    if worse >= current:
        return worse
    state = current
    while state > worse and free >= (STATE_THRESHOLDS[state - 1] + HYSTERESIS) * min_free:
        state -= 1
    return state
