"""The guest inside one powered-on VM: its OS's page lists, its boot, its workload, the lab's toucher.

The guest OS keeps guest physical pages on an allocated list (here split by owner: kernel, page
cache, the application image, the workload's processes, the lab's toucher process) and a free
list. Pages a process frees go back to the free list and stay mapped by the VMM: Granted and
Consumed do not fall (DESIGN.md 4; Greaves, "Understanding virtual machine memory").

The free list has two parts: pages freed since boot (reused first, most recent first, like the
per-CPU page lists of Linux) and the pages never allocated since boot, `untouched_from .. pages-1`,
handed out in order. A Linux guest leaves the latter unmapped until used; a Windows guest zeroes
them all while booting, so they are mapped from the start.

The guest decides which guest pages get written with which content; `backing.write` (the VMM)
backs them with machine frames and says which it could back. A page the host cannot back is not
used: the guest simply cannot grow further when machine memory runs out.
"""

import numpy as np

from hostsim.engine.grouping import distinct
from hostsim.engine.machine import PAGE_SIZE_KB, PAGES_PER_MB, mb_to_pages
from hostsim.engine.pagelist import PageList
from hostsim.engine.presets import GUEST_OS_PRESETS, WORKLOAD_PRESETS, GuestOSPreset, WorkloadPreset

# Regions of guest memory; a page is on exactly one list, or in the never-allocated range (FREE).
FREE, KERNEL, PAGE_CACHE, APP_IMAGE, WORKLOAD, LAB = range(6)
REGIONS = 6
LAB_PROCESS = "toucher"  # the lab's own process: guest_allocate / guest_free / guest_write

RAMP, COMPUTE = "ramp", "compute"


class GuestOS:
    def __init__(
        self, pages: int, vcpus: int, os: GuestOSPreset, workload: WorkloadPreset, backing
    ):
        self.pages = pages
        self.vcpus = vcpus
        self.os = os
        self.workload = workload
        self._backing = backing  # the VMM: write(), note_pages(), rng, content
        self.uptime = 0.0
        self.booted = False
        self.lists = [PageList() for _ in range(REGIONS)]  # lists[FREE]: pages freed since boot
        self.untouched_from = 0
        self.zeroed_down_to = pages  # Windows boot zeroing has written pages >= this
        self.kernel_loaded = 0
        self.boot_cache_loaded = 0
        self.file_cursor = self.kernel_pages  # next OS-image page the page cache reads
        self.app_loaded = False
        self.phase = RAMP
        self.written = 0  # batch: pages rewritten in this compute phase
        self._carry: dict[str, float] = {}

    # ------------------------------------------------------------------ sizes

    @property
    def kernel_pages(self) -> int:
        return min(mb_to_pages(self.os.kernel_mb), int(self.os.kernel_max_fraction * self.pages))

    @property
    def boot_cache_pages(self) -> int:
        return min(
            mb_to_pages(self.os.boot_cache_mb), int(self.os.boot_cache_max_fraction * self.pages)
        )

    @property
    def used_pages(self) -> int:
        return sum(len(pages) for pages in self.lists[1:])

    @property
    def free_pages(self) -> int:
        return len(self.lists[FREE]) + self.pages - self.untouched_from

    @property
    def nbytes(self) -> int:
        return sum(pages.nbytes for pages in self.lists)

    # ------------------------------------------------------------------ time

    def advance(self, seconds: float) -> None:
        self.uptime += seconds
        if not self.booted:
            self._boot()
        else:
            self._grow_page_cache(seconds)
            self._run_workload(seconds)

    def _boot(self) -> None:
        progress = min(1.0, self.uptime / self.os.boot_seconds)
        if self.os.zeroes_memory_at_boot:
            self._zero_untouched(min(1.0, 2 * progress))  # zeroing takes the first half of boot
        self._load_kernel(round(self.kernel_pages * progress) - self.kernel_loaded)
        wanted = round(self.boot_cache_pages * progress) - self.boot_cache_loaded
        self.boot_cache_loaded += wanted
        self._allocate(PAGE_CACHE, wanted, self._file_contents)
        if progress >= 1.0:
            self.booted = True

    def _zero_untouched(self, fraction: float) -> None:
        low = max(self.pages - int(self.pages * fraction), self.untouched_from)
        if low < self.zeroed_down_to:
            pages = np.arange(low, self.zeroed_down_to, dtype=np.int32)
            self.zeroed_down_to = low
            backed = self._backing.write(pages, np.zeros(pages.size, np.uint64))
            self._backing.note_pages(pages.compress(backed), FREE, True)

    def _load_kernel(self, n: int) -> None:
        rng = self._backing.rng
        first = self.kernel_loaded
        self.kernel_loaded += max(n, 0)

        def contents(count: int) -> np.ndarray:
            ids = self.os.image.pages_at(np.arange(first, first + count) % self.os.image.pages)
            ids[rng.random(count) < self.os.kernel_zero_fraction] = 0
            return ids

        self._allocate(KERNEL, n, contents)

    def _file_contents(self, count: int) -> np.ndarray:
        """What the page cache reads next: files of the OS image first, then the VM's own data."""
        image = self.os.image
        indices = np.arange(self.file_cursor, self.file_cursor + count)
        self.file_cursor += count
        ids = self._backing.content.unique(int(np.count_nonzero(indices >= image.pages)))
        return np.concatenate([image.pages_at(indices[indices < image.pages]), ids])

    def _grow_page_cache(self, seconds: float) -> None:
        rate = self.os.cache_growth_mb_per_s * PAGES_PER_MB * self.vcpus
        room = int(self.os.cache_max_fraction * self.pages) - len(self.lists[PAGE_CACHE])
        self._allocate(
            PAGE_CACHE, min(self._due("cache", rate * seconds), room), self._file_contents
        )

    def _run_workload(self, seconds: float) -> None:
        workload = self.workload
        if workload.application is not None and not self.app_loaded:
            self.app_loaded = True
            self._allocate(
                APP_IMAGE,
                mb_to_pages(workload.application_image_mb),
                lambda count: workload.application.pages_at(
                    np.arange(count) % workload.application.pages
                ),
            )
        data = self.lists[WORKLOAD]
        target = int(workload.resident_fraction * self.pages)
        if self.phase == RAMP:
            wanted = min(
                self._due("ramp", workload.ramp_mb_per_s * PAGES_PER_MB * self.vcpus * seconds),
                target - len(data),
            )
            got = self._allocate(WORKLOAD, wanted, self._workload_contents)
            if workload.compute_passes is not None and (len(data) >= target or got < wanted):
                self.phase, self.written = COMPUTE, 0
        if workload.turnover_per_s and len(data):
            # Short-lived processes exit (their memory returns to the free list, oldest first)
            # and new ones allocate as much again.
            exits = self._due(
                "turnover", workload.turnover_per_s * self.vcpus * seconds * len(data)
            )
            self._release(data.pop_oldest(exits))
            self._allocate(WORKLOAD, exits, self._workload_contents)
        if workload.compute_passes is None or self.phase == COMPUTE:
            writes = self._due("write", workload.write_pages_per_s * self.vcpus * seconds)
            self._rewrite(WORKLOAD if len(data) else KERNEL, writes, self._workload_contents)
            if workload.compute_passes is not None:
                self.written += writes
                if self.written >= workload.compute_passes * max(len(data), 1):
                    self._release(data.pop_all())  # the job is done: its working set is freed
                    self.phase = RAMP

    def _workload_contents(self, count: int) -> np.ndarray:
        backing = self._backing
        return backing.content.mixed(
            backing.rng, count, self.workload.content, self.os.image, self.workload.application
        )

    def _due(self, activity: str, amount: float) -> int:
        """Whole pages of `activity` due now; fractions carry over to the next step."""
        carried = self._carry.get(activity, 0.0) + amount
        whole = int(carried)
        self._carry[activity] = carried - whole
        return whole

    # ------------------------------------------------------------------ page lists

    def _take_free(self, n: int, reclaim_cache: bool) -> np.ndarray:
        """Up to `n` pages off the free list; when it runs dry the oldest page-cache pages are evicted."""
        parts = [self.lists[FREE].pop_newest(n)]
        missing = n - parts[0].size
        if missing:
            fresh = min(missing, self.pages - self.untouched_from)
            parts.append(
                np.arange(self.untouched_from, self.untouched_from + fresh, dtype=np.int32)
            )
            self.untouched_from += fresh
            missing -= fresh
        if missing and reclaim_cache:
            parts.append(self.lists[PAGE_CACHE].pop_oldest(missing))
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _allocate(self, region: int, n: int, contents_for) -> int:
        """Allocate up to `n` pages to `region` and write them; returns how many it got."""
        if n <= 0:
            return 0
        pages = self._take_free(n, reclaim_cache=region != PAGE_CACHE)
        if not pages.size:
            return 0
        backed = self._backing.write(pages, contents_for(pages.size))
        got = pages.compress(backed)
        self.lists[region].push(got)
        self._backing.note_pages(got, region, True)
        if got.size < pages.size:
            self._release(pages.compress(~backed))
        return got.size

    def _release(self, pages: np.ndarray) -> None:
        self.lists[FREE].push(pages)
        self._backing.note_pages(pages, FREE, False)

    def _rewrite(self, region: int, n: int, contents_for) -> int:
        held = self.lists[region]
        if n <= 0 or not len(held):
            return 0
        pages = distinct(held.view()[self._backing.rng.integers(0, len(held), n)])
        backed = self._backing.write(pages, contents_for(pages.size))
        self._backing.note_pages(pages.compress(backed), region, True)
        return int(np.count_nonzero(backed))

    # ------------------------------------------------------------------ the lab's toucher process

    def toucher_allocate(self, n: int) -> int:
        """The toucher allocates `n` pages and touches them; fresh anonymous memory is zero-filled."""
        return self._allocate(LAB, n, lambda count: np.zeros(count, np.uint64))

    def toucher_free(self, n: int) -> int:
        pages = self.lists[LAB].pop_newest(n)
        self._release(pages)
        return pages.size

    def toucher_write(self, fraction: float) -> int:
        """The toucher rewrites `fraction` of what it holds with new, unique data."""
        held = self.lists[LAB]
        count = int(round(fraction * len(held)))
        if not count:
            return 0
        pages = held.view()[self._backing.rng.choice(len(held), count, replace=False)]
        backed = self._backing.write(pages, self._backing.content.unique(pages.size))
        self._backing.note_pages(pages.compress(backed), LAB, True)
        return int(np.count_nonzero(backed))

    # ------------------------------------------------------------------ what others read

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """`n` distinct guest pages drawn uniformly, and the region each belongs to."""
        n = min(n, self.pages)
        positions = np.sort(rng.choice(self.pages, n, replace=False))
        sizes = np.array([len(pages) for pages in self.lists] + [self.pages - self.untouched_from])
        ends = np.cumsum(sizes)
        starts = ends - sizes
        which = np.searchsorted(ends, positions, side="right")
        pages = np.empty(n, np.int32)
        for region, listed in enumerate(self.lists):
            at = which == region
            pages[at] = listed.view()[positions[at] - starts[region]]
        untouched = which == REGIONS
        pages[untouched] = self.untouched_from + positions[untouched] - starts[REGIONS]
        return pages, np.where(untouched, FREE, which).astype(np.int8)

    def read_rates(self) -> np.ndarray:
        """Per region, the chance per page and second that the guest reads it (active memory)."""
        rates = np.zeros(REGIONS)
        rates[KERNEL] = self.os.kernel_touch_per_min / 60
        rates[PAGE_CACHE] = self.os.cache_touch_per_min / 60
        if self.booted:
            rates[APP_IMAGE] = rates[WORKLOAD] = self.workload.touch_per_min / 60
        return rates

    def mmu_activity(self) -> tuple[float, float]:
        """(page-table updates, TLB misses) per vCPU-second right now."""
        if not self.booted:
            return self.os.boot_pt_updates_per_s, self.os.boot_tlb_misses_per_s
        return self.workload.pt_updates_per_s, self.workload.tlb_misses_per_s

    def set_workload(self, workload: WorkloadPreset) -> None:
        """Switch what runs: the old workload's processes exit and free their memory."""
        self._release(self.lists[WORKLOAD].pop_all())
        self._release(self.lists[APP_IMAGE].pop_all())
        self.workload = workload
        self.app_loaded = False
        self.phase, self.written = RAMP, 0
        for activity in ("ramp", "turnover", "write"):
            self._carry.pop(activity, None)

    def view(self) -> dict:
        kb = PAGE_SIZE_KB
        processes = [{"name": LAB_PROCESS, "resident": len(self.lists[LAB]) * kb}]
        if self.workload.name != LAB_PROCESS:
            held = len(self.lists[APP_IMAGE]) + len(self.lists[WORKLOAD])
            processes.insert(0, {"name": self.workload.name, "resident": held * kb})
        return {
            "os": self.os.name,
            "workload": self.workload.name,
            "booted": self.booted,
            "uptime": self.uptime,
            "total": self.pages * kb,
            "used": self.used_pages * kb,
            "free": self.free_pages * kb,
            "kernel": len(self.lists[KERNEL]) * kb,
            "page_cache": len(self.lists[PAGE_CACHE]) * kb,
            "processes": processes,
        }

    # ------------------------------------------------------------------ snapshot

    def to_state(self) -> dict:
        return {
            "pages": self.pages,
            "vcpus": self.vcpus,
            "os": self.os.name,
            "workload": self.workload.name,
            "uptime": self.uptime,
            "booted": self.booted,
            "lists": [pages.view().copy() for pages in self.lists],
            "untouched_from": self.untouched_from,
            "zeroed_down_to": self.zeroed_down_to,
            "kernel_loaded": self.kernel_loaded,
            "boot_cache_loaded": self.boot_cache_loaded,
            "file_cursor": self.file_cursor,
            "app_loaded": self.app_loaded,
            "phase": self.phase,
            "written": self.written,
            "carry": dict(self._carry),
        }

    @classmethod
    def from_state(cls, state: dict, backing) -> "GuestOS":
        guest = cls(
            state["pages"],
            state["vcpus"],
            GUEST_OS_PRESETS[state["os"]],
            WORKLOAD_PRESETS[state["workload"]],
            backing,
        )
        guest.uptime = state["uptime"]
        guest.booted = state["booted"]
        guest.lists = [PageList(pages) for pages in state["lists"]]
        for name in (
            "untouched_from",
            "zeroed_down_to",
            "kernel_loaded",
            "boot_cache_loaded",
            "file_cursor",
            "app_loaded",
            "phase",
            "written",
        ):
            setattr(guest, name, state[name])
        guest._carry = dict(state["carry"])
        return guest
