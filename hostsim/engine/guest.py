"""The guest inside one powered-on VM: its OS's page lists, its boot, its workload, the lab's
toucher.

The guest OS keeps guest physical pages on an allocated list (here split by owner: kernel, page
cache, the application image, the workload's processes, the lab's toucher process) and a free
list. Pages a process frees go back to the free list and stay mapped by the VMM: Granted and
Consumed do not fall (DESIGN.md 4; Greaves, "Understanding virtual machine memory").

The free list has two parts: pages freed since boot (reused first, most recent first, like the
per-CPU page lists of Linux) and the pages never allocated since boot, `untouched_from .. pages-1`,
handed out in order. A Linux guest leaves the latter unmapped until used; a Windows guest zeroes
them all while booting, so they are mapped from the start.

What the guest holds (presets.py, content.py): the kernel's code, loaded first and never written
again, then its data, which the OS keeps rewriting (timers, logging: an idle workload's writes go
there); the page cache, the libraries first (read-only, the oldest entries), then the files read
at boot, then the files the workload reads, of which a share is rewritten with other files as
time goes on; the workload's memory, written with its content mix.

The guest decides which guest pages get written with which content; `backing.write` (the VMM)
backs them, and never drops a write (DESIGN.md 4b): when the host is short of memory the VM
stalls, it is not refused.

The balloon driver (VMware Tools' vmmemctl, Waldspurger 2002, section 3.2) is a guest process
the host asks to allocate ("inflate") pages, which it pins and hands to the host: they show as
used in the guest, held by the balloon. It takes them the way the guest OS gives memory to any
allocation: from the free list first (pages freed since boot, then never-used ones), then by
dropping page cache, and when that is not enough the guest pages out its processes' memory to
its own swap (`paged_out`: no longer resident, the process still owns it). Deflating returns
pages to the guest's free list. Each guest page's region is kept in `region` (one byte a page),
so that the host knows how often the guest reads a page it has swapped.

Processes (`processes`) own the process regions (application image, workload data, the
toucher's memory) through their page tables: a process reserves virtual memory, and the guest
takes a page off the free list and maps it on the first touch of a virtual page. The workloads
run as processes: the web server's main process with its cache and short-lived workers it forks
(each maps the server image and touches a little private memory), the database's one large
buffer pool, the batch job's work area reserved, touched, computed over and freed each cycle; the
kernel and the page cache belong to no process. The lab's toucher is one process in every guest.
"""

import numpy as np

from hostsim.engine.content import is_unique
from hostsim.engine.grouping import distinct
from hostsim.engine.machine import PAGE_SIZE_KB, PAGES_PER_MB, mb_to_pages
from hostsim.engine.mmu import Activity
from hostsim.engine.pagelist import PageList
from hostsim.engine.presets import (
    GUEST_OS_PRESETS,
    WORKLOAD_PRESETS,
    GuestOSPreset,
    WorkloadPreset,
    process_pages,
    scale_for,
)
from hostsim.engine.processes import NOT_PRESENT, VMA, AddressSpaces, Process

# Regions of guest memory; a page is on exactly one list, or in the never-allocated range (FREE).
FREE, KERNEL, PAGE_CACHE, APP_IMAGE, WORKLOAD, LAB, BALLOON, WORKERS = range(8)
REGIONS = 8
# WORKERS: the private memory of a web server's short-lived workers, listed apart from the main
# process's data so that the oldest workers' exits take the oldest entries of their own list.
ANONYMOUS = (
    WORKLOAD,
    LAB,
    WORKERS,
)  # process memory the guest pages out to its swap under pressure
LAB_PROCESS = "toucher"  # the lab's own process: guest_allocate / guest_free / guest_write

RAMP, COMPUTE = "ramp", "compute"
# The toucher touches memory it reserved without touching at this rate, per vCPU: slow enough to
# watch virtual memory appear first and resident memory follow on the memory map (our choice).
TOUCHER_TOUCH_MB_PER_S = 16
IMAGE_AREA = "image"


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
        self.region = np.zeros(pages, np.int8)  # which list each page is on (FREE if untouched)
        self.paged_out = [0] * REGIONS  # pages of each region in the guest's own swap
        self.untouched_from = 0
        self.zeroed_down_to = pages  # Windows boot zeroing has written pages >= this
        self.kernel_loaded = 0
        self.boot_cache_loaded = 0
        self.boot_read = 0  # libraries, then OS files, read into the page cache while booting
        self.files_read = 0  # the workload's files read into the page cache since boot
        self.cache_pinned = 0  # library pages at the oldest end of the page cache (read-only)
        self.scale = scale_for(pages)  # how much of a workload's reference rates this VM runs
        self.image = workload.image_for(os, pages)
        self.inputs = workload.inputs_for(os, self.scale)
        self.inputs_read = 0  # next page of its input data the workload reads
        self.app_loaded = False
        self.phase = RAMP
        self.written = 0  # batch: pages rewritten in this compute phase
        self._carry: dict[str, float] = {}
        self.spaces = AddressSpaces(pages)
        self.toucher = self.spaces.spawn(LAB_PROCESS, 0.0)
        self.app: Process | None = None  # the workload's main process
        self.data: VMA | None = None  # its data area
        self.workers: list[Process] = []  # its short-lived workers, oldest first
        self.forks = 0  # processes forked since boot (those simulated and those only counted)
        self._updates_mark = 0  # page-table updates counted up to the last step
        self._step_s = 0.0  # length of the step being advanced

    # ------------------------------------------------------------------ sizes

    @property
    def kernel_pages(self) -> int:
        return min(mb_to_pages(self.os.kernel_mb), int(self.os.kernel_max_fraction * self.pages))

    @property
    def kernel_code_pages(self) -> int:
        return round(self.kernel_pages * self.os.kernel_code_fraction)

    @property
    def library_pages(self) -> int:
        return min(
            mb_to_pages(self.os.libraries_mb), int(self.os.libraries_max_fraction * self.pages)
        )

    @property
    def boot_cache_pages(self) -> int:
        """Libraries and the other files read while booting."""
        return self.library_pages + min(
            mb_to_pages(self.os.boot_cache_mb), int(self.os.boot_cache_max_fraction * self.pages)
        )

    @property
    def used_pages(self) -> int:
        return sum(len(pages) for pages in self.lists[1:])

    @property
    def free_pages(self) -> int:
        return len(self.lists[FREE]) + self.pages - self.untouched_from

    @property
    def balloon_pages(self) -> int:
        return len(self.lists[BALLOON])

    @property
    def nbytes(self) -> int:
        return sum(pages.nbytes for pages in self.lists) + self.region.nbytes + self.spaces.nbytes

    def _note(self, pages: np.ndarray, region: int, touched: bool, moved: bool = True) -> None:
        """`pages` are on `region`'s list now (`moved` False: they were, and were rewritten)."""
        # The backing first: it reads the pages' old regions.
        self._backing.note_pages(pages, region, touched, moved)
        if moved:
            self.region[pages] = region

    # ------------------------------------------------------------------ time

    def advance(self, seconds: float) -> None:
        self.uptime += seconds
        self._step_s = seconds
        if not self.booted:
            self._boot()
        else:
            self._grow_page_cache(seconds)
            self._churn(seconds)
            self._run_workload(seconds)
        self._run_toucher(seconds)

    def _count_brief_processes(self, per_vcpu_s: float, pages: int) -> None:
        """Processes born and gone within the step: their page-table work is counted (each maps
        and unmaps `pages`), their memory is not simulated (it nets to nothing in the step).
        """
        forks = self._due("brief", per_vcpu_s * self.vcpus * self._step_s)
        self.forks += forks
        self.spaces.updates += 2 * forks * pages

    def _boot(self) -> None:
        progress = min(1.0, self.uptime / self.os.boot_seconds)
        if self.os.zeroes_memory_at_boot:
            self._zero_untouched(min(1.0, 2 * progress))  # zeroing takes the first half of boot
        self._load_kernel(round(self.kernel_pages * progress) - self.kernel_loaded)
        wanted = round(self.boot_cache_pages * progress) - self.boot_cache_loaded
        self.boot_cache_loaded += wanted
        self._allocate(PAGE_CACHE, wanted, self._boot_files)
        self._count_brief_processes(self.os.boot_forks_per_s, mb_to_pages(self.os.boot_process_mb))
        if progress >= 1.0:
            self.booted = True

    def _zero_untouched(self, fraction: float) -> None:
        low = max(self.pages - int(self.pages * fraction), self.untouched_from)
        if low < self.zeroed_down_to:
            pages = np.arange(low, self.zeroed_down_to, dtype=np.int32)
            self.zeroed_down_to = low
            self._backing.write(pages, np.zeros(pages.size, np.uint64))
            self._note(pages, FREE, True)

    def _load_kernel(self, n: int) -> None:
        """The kernel's code first (read-only from then on), then its data as it is at boot."""
        first = self.kernel_loaded
        self.kernel_loaded += max(n, 0)
        code = self.kernel_code_pages

        def contents(count: int) -> np.ndarray:
            indices = np.arange(first, first + count)
            ids = self.os.kernel_code.pages_at(indices % self.os.kernel_code.pages)
            data = indices >= code
            ids[data] = self._kernel_data_contents(
                int(np.count_nonzero(data)), self.os.kernel_data, indices[data] - code
            )
            return ids

        self._allocate(KERNEL, n, contents)

    def _kernel_data_contents(
        self, count: int, initial=None, indices: np.ndarray | None = None
    ) -> np.ndarray:
        """Kernel data: zero pages, the OS's repeated patterns, and the rest `initial`'s pages at
        `indices` (at boot, the same in every VM of the version) or new, unique data.
        """
        os = self.os
        backing = self._backing
        patterns = ((os.kernel_pattern_fraction, os.patterns),)
        ids, _ = backing.content.drawn(backing.rng, count, os.kernel_zero_fraction, patterns)
        if initial is not None and indices is not None:  # the unique ids drawn here go unused
            fresh = is_unique(ids)
            ids[fresh] = initial.pages_at(indices[fresh] % initial.pages)
        return ids

    def _boot_files(self, count: int) -> np.ndarray:
        """What booting reads into the page cache: the libraries, then the OS's other files, in
        the order every VM of the version reads them.
        """
        libraries = self.library_pages
        indices = np.arange(self.boot_read, self.boot_read + count)
        self.boot_read += count
        self.cache_pinned = min(self.boot_read, libraries)
        ids = self.os.libraries.pages_at(indices % self.os.libraries.pages)
        files = indices >= libraries
        ids[files] = self.os.files.pages_at((indices[files] - libraries) % self.os.files.pages)
        return ids

    def _read_files(self, count: int) -> np.ndarray:
        """Files read after boot: the workload's, in the order it reads them (the same in every VM
        running it on this OS version), and a share of the VM's own (logs, its data: unique).
        """
        files = self.workload.files_for(self.os)
        own = self._backing.rng.random(count) < self.os.cache_private_fraction
        shared = int(np.count_nonzero(~own))
        ids = np.empty(count, np.uint64)
        at = np.arange(self.files_read, self.files_read + shared)
        ids[~own] = files.pages_at(at % files.pages)
        self.files_read += shared
        ids[own] = self._backing.content.unique(count - shared)
        return ids

    def _grow_page_cache(self, seconds: float) -> None:
        rate = self.os.cache_growth_mb_per_s * PAGES_PER_MB * self.vcpus
        room = int(self.os.cache_max_fraction * self.pages) - len(self.lists[PAGE_CACHE])
        self._allocate(PAGE_CACHE, min(self._due("cache", rate * seconds), room), self._read_files)

    def _churn(self, seconds: float) -> None:
        """The OS rewrites kernel data and replaces cached files at their own rates; kernel code
        and the libraries stay as they were loaded.
        """
        kernel_data = len(self.lists[KERNEL]) - self.kernel_code_pages
        churn = self.os.kernel_data_churn_per_min / 60 * kernel_data * seconds
        due = self._due("kernel data", churn)
        self._rewrite_kernel_data(due, self._kernel_data_contents)
        cached = len(self.lists[PAGE_CACHE]) - self.cache_pinned
        due = self._due("cache churn", self.os.cache_churn_per_min / 60 * cached * seconds)
        self._rewrite(PAGE_CACHE, due, self._read_files, skip=self.cache_pinned)

    def _rewrite_kernel_data(self, n: int, contents_for) -> int:
        code = min(self.kernel_code_pages, len(self.lists[KERNEL]))  # the oldest kernel pages
        return self._rewrite(KERNEL, n, contents_for, skip=code)

    def _run_workload(self, seconds: float) -> None:
        workload = self.workload
        if workload.process is not None and self.app is None:
            self.app = self._start_application(workload.process)
        app = self.app
        if app is not None and self.data is None:  # batch: a new cycle reserves its area
            self.data = self._reserve_data(app)
        data = self.data
        if self.phase == RAMP and app is not None and data is not None:
            wanted = min(
                self._due("ramp", self._per_s(workload.ramp_mb_per_s * PAGES_PER_MB) * seconds),
                data.pages - data.touched,
            )
            got = self._touch(app, data, wanted, self._workload_contents)
            if workload.compute_passes is not None and (data.touched >= data.pages or got < wanted):
                self.phase, self.written = COMPUTE, 0
        if workload.workers_per_vcpu and app is not None:
            self._run_workers(app, seconds)
        held = self.lists[WORKLOAD]
        if workload.compute_passes is None or self.phase == COMPUTE:
            writes = self._due("write", self._per_s(workload.write_pages_per_s) * seconds)
            if len(held):
                self._rewrite(WORKLOAD, writes, self._workload_contents)
            else:  # only the OS runs: its writes go to kernel data, never to kernel code
                self._rewrite_kernel_data(writes, self._workload_contents)
            if workload.compute_passes is not None:
                self.written += writes
                if self.written >= workload.compute_passes * max(len(held), 1) and app and data:
                    # The job is done: it unmaps its work area, which goes to the free list.
                    self._unmap(app, data)
                    self.data = None
                    self.phase = RAMP

    def _start_application(self, name: str) -> Process:
        app = self.spaces.spawn(name, self.uptime)
        if self.image is not None:
            binaries = self.image
            image = self.spaces.reserve(app, binaries.pages, IMAGE_AREA, APP_IMAGE)
            self._touch(
                app,
                image,
                image.pages,
                lambda count: binaries.pages_at(np.arange(count) % binaries.pages),
            )
        self.app_loaded = True
        return app

    def _reserve_data(self, app: Process) -> VMA:
        """The main process reserves its data area at once; it is touched as the work needs it."""
        workload = self.workload
        workers = workload.workers_per_vcpu * self.vcpus * self._worker_pages
        pages = max(0, int(workload.resident_fraction * self.pages) - workers)
        return self.spaces.reserve(app, pages, workload.data_area, WORKLOAD)

    def _run_workers(self, app: Process, seconds: float) -> None:
        """The oldest workers exit and new ones fork; forks beyond the pool within one step are
        workers that lived and died inside it, counted, not simulated.
        """
        workload = self.workload
        forks = self._due("fork", workload.forks_per_s * self.vcpus * seconds)
        exiting = self.workers[: min(forks, len(self.workers))]
        self.workers = self.workers[len(exiting) :]
        self._exit(exiting)
        pool = workload.workers_per_vcpu * self.vcpus
        born = pool - len(self.workers)
        image = app.vmas[0] if app.vmas and app.vmas[0].name == IMAGE_AREA else None
        shared = self.spaces.present_in(image) if image is not None else 0
        private = self._worker_pages
        pages = self._take_free(born * private, reclaim_cache=True)
        if pages.size:
            self._backing.write(pages, self._workload_contents(pages.size))
            self.lists[WORKERS].push(pages)
            self._note(pages, WORKERS, True)
        for index in range(born):
            worker = self.spaces.spawn(f"{workload.process}-worker", self.uptime)
            if image is not None:
                self.spaces.map_shared(worker, image, IMAGE_AREA, shared)
            heap = self.spaces.reserve(worker, private, "heap", WORKERS)
            mine = pages[index * private : (index + 1) * private]
            self.spaces.map(heap, np.arange(mine.size), mine)
            heap.touched = mine.size
            self.workers.append(worker)
        brief = forks - len(exiting)
        self.forks += born + brief
        self.spaces.updates += 2 * brief * (shared + private)

    @property
    def _worker_pages(self) -> int:
        worker_mb = self.workload.worker_mb
        return process_pages(worker_mb, self.pages) if worker_mb else 0

    def _per_s(self, reference_rate: float) -> float:
        """A workload's rate per vCPU, given for a VM of the reference size, in this VM."""
        return reference_rate * self.vcpus * self.scale

    def _workload_contents(self, count: int) -> np.ndarray:
        backing = self._backing
        os = self.os
        ids, self.inputs_read = backing.content.mixed(
            backing.rng,
            count,
            self.workload.content,
            os.files,
            os.patterns,
            self.inputs,
            self.inputs_read,
        )
        return ids

    def _due(self, activity: str, amount: float) -> int:
        """Whole pages of `activity` due now; fractions carry over to the next step."""
        carried = self._carry.get(activity, 0.0) + amount
        whole = int(carried)
        self._carry[activity] = carried - whole
        return whole

    # ------------------------------------------------------------------ page lists

    def _take_free(self, n: int, reclaim_cache: bool) -> np.ndarray:
        """Up to `n` pages off the free list; when it runs dry the oldest page-cache pages are
        evicted."""
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
            evicted = self.lists[PAGE_CACHE].pop_oldest(missing)
            self.cache_pinned = max(0, self.cache_pinned - evicted.size)
            parts.append(evicted)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _allocate(self, region: int, n: int, contents_for) -> int:
        """Allocate up to `n` pages to `region` and write them; returns how many it got."""
        if n <= 0:
            return 0
        pages = self._take_free(n, reclaim_cache=region != PAGE_CACHE)
        if not pages.size:
            return 0
        self._backing.write(pages, contents_for(pages.size))
        self.lists[region].push(pages)
        self._note(pages, region, True)
        return pages.size

    def _release(self, pages: np.ndarray) -> None:
        self.lists[FREE].push(pages)
        self._note(pages, FREE, False)

    def _touch(self, process: Process, vma: VMA, n: int, contents_for) -> int:
        """First touch of the next `n` virtual pages of `vma`: each gets a guest physical page
        off the free list, written and mapped. Returns how many it got.
        """
        n = min(n, vma.pages - vma.touched)
        if n <= 0:
            return 0
        pages = self._take_free(n, reclaim_cache=True)
        if not pages.size:
            return 0
        self._backing.write(pages, contents_for(pages.size))
        self.lists[vma.region].push(pages)
        self._note(pages, vma.region, True)
        self.spaces.map(vma, np.arange(vma.touched, vma.touched + pages.size), pages)
        vma.touched += pages.size
        return pages.size

    def _unmap(self, process: Process, vma: VMA, keep: int = 0) -> int:
        """munmap from page `keep` of the area on; returns the pages it held (present or paged
        out)."""
        region = vma.region
        pages, paged_out = self.spaces.unmap(process, vma, keep)
        self._give_back(region, pages, paged_out)
        return pages.size + paged_out

    def _exit(self, processes: list[Process]) -> None:
        freed = [part for process in processes for part in self.spaces.exit(process)]
        for region in {region for region, _, _ in freed}:
            pages = [pages for at, pages, _ in freed if at == region]
            paged_out = sum(out for at, _, out in freed if at == region)
            self._give_back(region, np.concatenate(pages), paged_out)

    def _give_back(self, region: int, pages: np.ndarray, paged_out: int) -> None:
        """A process unmapped `pages` of `region` (and `paged_out` pages in the guest's swap)."""
        self.paged_out[region] -= paged_out
        if not pages.size:
            return
        self._release(pages)
        listed = self.lists[region]
        held = listed.view()
        # Exits of the oldest processes and frees of the newest memory take the ends of the list.
        # The freed pages are distinct entries of it, already marked free: if the k entries at one
        # end are all marked free they are the freed pages, so only those k are looked at.
        k = pages.size
        if not (self.region[held[:k]] == region).any():
            listed.pop_oldest(k)
        elif not (self.region[held[held.size - k :]] == region).any():
            listed.pop_newest(k)
        else:
            listed.keep(self.region[held] == region)

    def _rewrite(self, region: int, n: int, contents_for, skip: int = 0) -> int:
        """Rewrite `n` pages drawn from `region`'s list, its `skip` oldest entries aside."""
        held = self.lists[region]
        if n <= 0 or len(held) <= skip:
            return 0
        drawn = held.view()[self._backing.rng.integers(skip, len(held), n)]
        pages = distinct(drawn, bound=self.pages)
        self._backing.write(pages, contents_for(pages.size))
        self._note(pages, region, True, moved=False)
        return pages.size

    # ------------------------------------------------------------------ the lab's toucher process

    def toucher_allocate(self, n: int, touch: bool = True) -> int:
        """The toucher reserves `n` pages of virtual memory (mmap) and, with `touch`, touches them
        at once (fresh anonymous memory is zero-filled); returns the pages it got touched, or
        without `touch` the pages reserved, which it then touches as it runs. A process may not
        reserve more than the guest's memory (a commit limit, our choice).
        """
        n = min(n, self.pages - self.spaces.virtual_of(self.toucher))
        if n <= 0:
            return 0
        vma = self.spaces.reserve(self.toucher, n, "mmap", LAB)
        if not touch:
            return n
        got = self._touch(self.toucher, vma, n, _zero_filled)
        if got < n:  # the guest had no more memory: the mapping is what it could back
            self._unmap(self.toucher, vma, keep=got)
        return got

    def _run_toucher(self, seconds: float) -> None:
        pending = [vma for vma in self.toucher.vmas if vma.touched < vma.pages]
        if not pending:
            self._carry.pop("toucher", None)
            return
        due = self._due("toucher", TOUCHER_TOUCH_MB_PER_S * PAGES_PER_MB * self.vcpus * seconds)
        for vma in pending:
            wanted = min(due, vma.pages - vma.touched)
            got = self._touch(self.toucher, vma, wanted, _zero_filled)
            due -= got
            if got < wanted or due <= 0:
                break

    def toucher_free(self, n: int) -> int:
        """munmap of what the toucher holds, newest area and newest pages first, until `n` pages
        it held (resident or paged out by the guest) are freed; reserved pages it never touched on
        the way are unreserved too. Returns the held pages freed.
        """
        freed = 0
        for vma in reversed(list(self.toucher.vmas)):
            if freed >= n:
                break
            held = (self.spaces.entries(vma) != NOT_PRESENT).nonzero()[0]
            if held.size <= n - freed:
                freed += self._unmap(self.toucher, vma)
            else:
                freed += self._unmap(self.toucher, vma, keep=int(held[held.size - (n - freed)]))
        return freed

    def toucher_write(self, fraction: float) -> int:
        """The toucher rewrites `fraction` of what it holds with new, unique data."""
        held = self.lists[LAB]
        count = int(round(fraction * len(held)))
        if not count:
            return 0
        pages = held.view()[self._backing.rng.choice(len(held), count, replace=False)]
        self._backing.write(pages, self._backing.content.unique(pages.size))
        self._note(pages, LAB, True, moved=False)
        return pages.size

    # ------------------------------------------------------------------ the balloon driver

    def balloon_inflate(self, n: int) -> np.ndarray:
        """The driver allocates `n` pages for the host; returns them."""
        pages = self._take_free(n, reclaim_cache=True)
        if pages.size < n:
            pages = np.concatenate([pages, self._page_out(n - pages.size)])
        self.lists[BALLOON].push(pages)
        self._note(pages, BALLOON, False)
        return pages

    def balloon_deflate(self, n: int) -> np.ndarray:
        """The driver gives `n` pages back to the guest's free list; returns them."""
        pages = self.lists[BALLOON].pop_newest(n)
        self._release(pages)
        return pages

    def _page_out(self, n: int) -> np.ndarray:
        """Guest paging: process memory, oldest first, from the largest process, to guest swap."""
        parts = []
        while n > 0:
            region = max(ANONYMOUS, key=lambda r: len(self.lists[r]))
            pages = self.lists[region].pop_oldest(n)
            if not pages.size:
                break
            self.paged_out[region] += pages.size
            self.spaces.page_out(pages)
            parts.append(pages)
            n -= pages.size
        return np.concatenate(parts) if parts else np.zeros(0, np.int32)

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
            rates[APP_IMAGE] = rates[WORKLOAD] = rates[WORKERS] = self.workload.touch_per_min / 60
        return rates

    def mmu_activity(self, seconds: float) -> Activity:
        """What the MMU saw over the last `seconds`, per vCPU-second: the page-table updates the
        processes made, context switches and scattered references, and the working set.
        """
        updates = self.spaces.updates - self._updates_mark
        self._updates_mark = self.spaces.updates
        if self.booted:
            switches, refs = (
                self.workload.context_switches_per_s,
                self.workload.scattered_refs_per_s,
            )
        else:
            switches, refs = self.os.boot_context_switches_per_s, self.os.boot_scattered_refs_per_s
        return Activity(
            pt_updates=updates / (self.vcpus * seconds) if seconds > 0 else 0.0,
            context_switches=switches,
            scattered_refs=refs,
            working_set=self.spaces.resident + len(self.lists[KERNEL]),
        )

    def set_workload(self, workload: WorkloadPreset) -> None:
        """Switch what runs: the old workload's processes exit and free their memory."""
        self._exit(self.workers + ([self.app] if self.app is not None else []))
        self.workers, self.app, self.data = [], None, None
        self.workload = workload
        self.image = workload.image_for(self.os, self.pages)
        self.inputs = workload.inputs_for(self.os, self.scale)
        self.inputs_read = 0
        self.app_loaded = False
        self.phase, self.written = RAMP, 0
        for activity in ("ramp", "fork", "write"):
            self._carry.pop(activity, None)

    def process_list(self) -> list[dict]:
        """Every process: pid, name, virtual and resident pages, and its areas."""
        spaces = self.spaces
        return [
            {
                "pid": process.pid,
                "name": process.name,
                "virtual": spaces.virtual_of(process),
                "resident": spaces.resident_of(process),
                "areas": [
                    {
                        "name": vma.name,
                        "start": vma.start,
                        "pages": vma.pages,
                        "resident": spaces.present_in(vma),
                        "shared": vma.shared is not None,
                    }
                    for vma in process.vmas
                ],
            }
            for process in spaces.processes.values()
        ]

    def view(self) -> dict:
        kb = PAGE_SIZE_KB
        processes = [{"name": LAB_PROCESS, "resident": len(self.lists[LAB]) * kb}]
        if self.workload.name != LAB_PROCESS:
            held = sum(len(self.lists[region]) for region in (APP_IMAGE, WORKLOAD, WORKERS))
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
            "balloon": len(self.lists[BALLOON]) * kb,
            "paged_out": sum(self.paged_out) * kb,
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
            "region": self.region,
            "paged_out": list(self.paged_out),
            "untouched_from": self.untouched_from,
            "zeroed_down_to": self.zeroed_down_to,
            "kernel_loaded": self.kernel_loaded,
            "boot_cache_loaded": self.boot_cache_loaded,
            "boot_read": self.boot_read,
            "files_read": self.files_read,
            "cache_pinned": self.cache_pinned,
            "inputs_read": self.inputs_read,
            "app_loaded": self.app_loaded,
            "phase": self.phase,
            "written": self.written,
            "carry": dict(self._carry),
            "spaces": self.spaces.to_state(),
            "toucher": self.toucher.pid,
            "app": self.app.pid if self.app is not None else None,
            "data": self.app.vmas.index(self.data) if self.app and self.data else None,
            "workers": [worker.pid for worker in self.workers],
            "forks": self.forks,
            "updates_mark": self._updates_mark,
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
        guest.region = state["region"]
        guest.paged_out = list(state["paged_out"])
        for name in (
            "untouched_from",
            "zeroed_down_to",
            "kernel_loaded",
            "boot_cache_loaded",
            "app_loaded",
            "phase",
            "written",
        ):
            setattr(guest, name, state[name])
        # Snapshots from before the versioned presets (issue 13) kept one OS-image cursor.
        guest.boot_read = state.get("boot_read", guest.boot_cache_loaded)
        guest.files_read = state.get("files_read", 0)
        guest.cache_pinned = state.get("cache_pinned", 0)
        guest.inputs_read = state.get("inputs_read", 0)
        guest._carry = dict(state["carry"])
        guest.spaces = spaces = AddressSpaces.from_state(state["spaces"])
        guest.toucher = spaces.processes[state["toucher"]]
        guest.app = spaces.processes[state["app"]] if state["app"] is not None else None
        guest.data = (
            guest.app.vmas[state["data"]] if guest.app and state["data"] is not None else None
        )
        guest.workers = [spaces.processes[pid] for pid in state["workers"]]
        guest.forks = state["forks"]
        guest._updates_mark = state["updates_mark"]
        return guest


def _zero_filled(count: int) -> np.ndarray:
    return np.zeros(count, np.uint64)
