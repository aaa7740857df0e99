"""Active memory, estimated the way ESX Server does it (Waldspurger, OSDI 2002, section 5.3).

Each sampling period a small random set of the VM's guest physical pages is watched: ESX invalidates
their mappings so that the next access faults and is noticed. At the end of the period the share
of watched pages that were touched estimates the share of memory in active use. Fast and slow
exponentially weighted moving averages of those shares are kept and the larger one is reported, so
the estimate rises quickly when a VM gets busy and falls slowly when it goes idle.

In the engine a page is "touched" when the guest writes it (an allocation, a workload write) or,
between writes, by the guest's reads: each region of guest memory (kernel, page cache, a process)
is read at its own rate, so a watched page is touched with probability 1 - exp(-sum(rate * dt)).
"""

import numpy as np

SAMPLE_PAGES = 100  # pages watched per period (Waldspurger 2002, section 5.3)
# Mem.SamplePeriod default (vSphere Resource Management, "How ESXi Hosts Allocate Memory")
SAMPLE_PERIOD_S = 60
FAST_GAIN = 0.5  # weight of the newest period in the fast average (our choice)
SLOW_GAIN = 0.1  # ... and in the slow one (our choice): about ten periods to forget
# A written page is looked up among the watched ones only if its bucket holds one
_WATCH_BUCKETS = 4096


class ActiveMemoryEstimator:
    def __init__(self):
        self.pages = np.empty(0, np.int32)  # watched pages, ascending
        self.regions = np.empty(0, np.int8)  # the guest region each watched page belongs to now
        self.touched = np.empty(0, bool)
        self.exposure = np.empty(0, np.float64)  # sum of read rate * time since the period began
        self.fast = 0.0
        self.slow = 0.0
        self._watched_buckets = np.zeros(_WATCH_BUCKETS, bool)

    @property
    def estimate(self) -> float:
        """Share of guest memory estimated active."""
        return max(self.fast, self.slow)

    def begin_period(self, pages: np.ndarray, regions: np.ndarray) -> None:
        order = np.argsort(pages)
        self.pages = pages[order].astype(np.int32)
        self.regions = regions[order].astype(np.int8)
        self.touched = np.zeros(self.pages.size, bool)
        self.exposure = np.zeros(self.pages.size, np.float64)
        self._watch()

    def _watch(self) -> None:
        self._watched_buckets[:] = False
        self._watched_buckets[self.pages & (_WATCH_BUCKETS - 1)] = True

    def note(self, pages: np.ndarray, region: int, touched: bool) -> None:
        """`pages` moved to `region` (and were written, if `touched`)."""
        if not self.pages.size or not len(pages):
            return
        pages = pages.compress(self._watched_buckets[pages & (_WATCH_BUCKETS - 1)])
        at = np.minimum(self.pages.searchsorted(pages), self.pages.size - 1)
        hit = at.compress(self.pages[at] == pages)
        if hit.size:
            self.regions[hit] = region
            if touched:
                self.touched[hit] = True

    def accrue(self, read_rates: np.ndarray, seconds: float) -> None:
        """Time passes: each watched page is exposed to its region's read rate (per page, per
        second)."""
        if self.pages.size:
            self.exposure += read_rates[self.regions] * seconds

    def end_period(self, rng: np.random.Generator) -> None:
        draws = rng.random(self.pages.size)
        if not self.pages.size:
            return
        read = draws < -np.expm1(-self.exposure)
        share = float(np.count_nonzero(self.touched | read)) / self.pages.size
        self.fast += FAST_GAIN * (share - self.fast)
        self.slow += SLOW_GAIN * (share - self.slow)

    def to_state(self) -> dict:
        return {
            "pages": self.pages,
            "regions": self.regions,
            "touched": self.touched,
            "exposure": self.exposure,
            "fast": self.fast,
            "slow": self.slow,
        }

    @classmethod
    def from_state(cls, state: dict) -> "ActiveMemoryEstimator":
        estimator = cls()
        estimator.pages = state["pages"]
        estimator.regions = state["regions"]
        estimator.touched = state["touched"]
        estimator.exposure = state["exposure"]
        estimator.fast = state["fast"]
        estimator.slow = state["slow"]
        estimator._watch()
        return estimator
