"""Guest processes: virtual address spaces and the guest page table (virtual -> guest physical).

A process reserves virtual memory by syscall (mmap, brk): a virtual memory area (VMA) whose page
table entries say "not present". The guest OS maps a guest physical page into an entry on the
first touch of that virtual page (demand paging inside the guest); freeing (munmap, exit) clears
the entries and hands the guest physical pages back to the guest's free list, where the VMM keeps
them backed. Every entry written or cleared is a guest page-table update: under a software MMU
each one traps to the VMM, which keeps its shadow page table in sync (`mmu`). (Greaves,
"Understanding virtual machine memory"; vSphere Resource Management, "Memory Virtualization".)

Storage, sized for the engine budget (DESIGN.md 4): the entries of every VMA of a guest live in
one int32 pool (`pte`, one entry per reserved virtual page, `NOT_PRESENT`, `PAGED_OUT` or the guest
physical page). There is no reverse map (4 bytes a guest page more than the budget allows): the
one operation that starts from guest physical pages, the guest paging memory out, searches the
pool, which it can afford because it is rare and bulk. A worker's mapping
of its parent's image is a `shared` VMA: it has no entries of its own, it reads the parent's
(copy-on-write after fork, file-backed pages the guest shares like page cache).
"""

import bisect

import numpy as np

NOT_PRESENT = -1  # reserved, not touched since (or the area was never touched at all)
PAGED_OUT = -2  # the guest paged the page out to its own swap; the process still owns it
VIRTUAL_BASE_PAGE = 0x400  # first virtual page of an address space (4 MiB: below it stays unmapped)
_POOL_MIN = 1024
_POOL_GROWTH = 1.5


class VMA:
    """A virtual memory area: `pages` virtual pages from `start`, entries at pool[`base`:...]."""

    __slots__ = ("start", "pages", "base", "name", "region", "touched", "shared")

    def __init__(
        self, start: int, pages: int, base: int, name: str, region: int, shared: "VMA | None" = None
    ):
        self.start = start
        self.pages = pages
        self.base = base  # -1 for a shared mapping
        self.name = name
        self.region = region  # the guest region its pages are listed under (guest.py)
        self.touched = 0  # demand paging cursor: pages [0, touched) have been touched
        self.shared = shared  # the parent's VMA this one maps (workers' image), or None


class Process:
    __slots__ = ("pid", "name", "vmas", "next_page", "born")

    def __init__(self, pid: int, name: str, born: float):
        self.pid = pid
        self.name = name
        self.vmas: list[VMA] = []
        self.next_page = VIRTUAL_BASE_PAGE
        self.born = born


class AddressSpaces:
    """Every process of one guest, their VMAs and page-table entries, and the reverse map."""

    def __init__(self, guest_pages: int):
        self.pte = np.full(_POOL_MIN, NOT_PRESENT, np.int32)
        self.top = 0  # pool entries [0, top) are or were in use; the holes are in `holes`
        self.holes: list[tuple[int, int]] = []  # (base, length), sorted by base
        self.guest_pages = guest_pages
        self.processes: dict[int, Process] = {}
        self.next_pid = 100
        self.virtual = 0  # reserved virtual pages, all processes (shared mappings included)
        self.resident = 0  # virtual pages mapped to guest physical pages, all processes
        self.updates = 0  # guest page-table entries written or cleared since boot

    @property
    def nbytes(self) -> int:
        return self.pte.nbytes

    # ------------------------------------------------------------------ processes and areas

    def spawn(self, name: str, born: float) -> Process:
        process = Process(self.next_pid, name, born)
        self.next_pid += 1
        self.processes[process.pid] = process
        return process

    def reserve(self, process: Process, pages: int, name: str, region: int) -> VMA:
        """mmap: `pages` virtual pages, none present."""
        vma = VMA(process.next_page, pages, self._alloc(pages), name, region)
        process.next_page += pages + 1  # a guard page between areas, as mmap leaves
        process.vmas.append(vma)
        self.virtual += pages
        return vma

    def map_shared(self, process: Process, parent: VMA, name: str, present: int) -> None:
        """fork: the child maps the parent's area; its `present` entries are copied."""
        vma = VMA(process.next_page, parent.pages, -1, name, parent.region, shared=parent)
        vma.touched = parent.touched
        process.next_page += parent.pages + 1
        process.vmas.append(vma)
        self.virtual += parent.pages
        self.resident += present
        self.updates += present

    def present_in(self, vma: VMA) -> int:
        source = vma.shared or vma
        return int(np.count_nonzero(self.entries(source) >= 0))

    def entries(self, vma: VMA) -> np.ndarray:
        """The area's page-table entries (a view; a shared area reads its parent's)."""
        source = vma.shared or vma
        return self.pte[source.base : source.base + source.pages]

    def map(self, vma: VMA, offsets: np.ndarray, guest_pages: np.ndarray) -> None:
        """First touch: virtual pages `offsets` of `vma` now map `guest_pages`."""
        self.pte[vma.base + offsets] = guest_pages
        self.resident += guest_pages.size
        self.updates += guest_pages.size

    def page_out(self, guest_pages: np.ndarray) -> None:
        """The guest paged these process pages out to its own swap: their entries say so."""
        out = np.zeros(self.guest_pages, bool)
        out[guest_pages] = True
        pool = self.pte[: self.top]
        slots = (out[np.maximum(pool, 0)] & (pool >= 0)).nonzero()[0]
        pool[slots] = PAGED_OUT
        self.resident -= slots.size
        self.updates += slots.size

    def unmap(self, process: Process, vma: VMA, keep: int = 0) -> tuple[np.ndarray, int]:
        """munmap of the area's pages from `keep` on (all of it by default; a shared area always
        goes whole): returns the guest physical pages that were present (none for a shared area:
        they are its parent's), and how many were paged out to the guest's swap.
        """
        if vma.shared is not None:
            present = self.present_in(vma)
            process.vmas.remove(vma)
            self.virtual -= vma.pages
            self.resident -= present
            self.updates += present
            return np.zeros(0, np.int32), 0
        entries = self.pte[vma.base + keep : vma.base + vma.pages]
        pages = entries.compress(entries >= 0)
        paged_out = int(np.count_nonzero(entries == PAGED_OUT))
        entries[:] = NOT_PRESENT
        self.resident -= pages.size
        self.updates += pages.size + paged_out
        self.virtual -= vma.pages - keep
        self._free(vma.base + keep, vma.pages - keep)
        if keep:
            vma.pages = keep
            vma.touched = min(vma.touched, keep)
        else:
            process.vmas.remove(vma)
        return pages, paged_out

    def exit(self, process: Process) -> list[tuple[int, np.ndarray, int]]:
        """The process exits: every area is unmapped. Per area: its region, the guest physical
        pages it had present and how many it had paged out.
        """
        freed = []
        for vma in list(process.vmas):
            region = vma.region
            freed.append((region, *self.unmap(process, vma)))
        del self.processes[process.pid]
        return freed

    # ------------------------------------------------------------------ what others read

    def resident_of(self, process: Process) -> int:
        return sum(self.present_in(vma) for vma in process.vmas)

    def virtual_of(self, process: Process) -> int:
        return sum(vma.pages for vma in process.vmas)

    # ------------------------------------------------------------------ the pool

    def _alloc(self, n: int) -> int:
        for index, (base, length) in enumerate(self.holes):
            if length >= n:
                if length == n:
                    del self.holes[index]
                else:
                    self.holes[index] = (base + n, length - n)
                return base
        base = self.top
        if self.top + n > self.pte.size:
            size = max(int(self.pte.size * _POOL_GROWTH), self.top + n)
            grown = np.full(size, NOT_PRESENT, np.int32)
            grown[: self.top] = self.pte[: self.top]
            self.pte = grown
        self.top += n
        return base

    def _free(self, base: int, n: int) -> None:
        if n <= 0:
            return
        at = bisect.bisect(self.holes, (base, n))
        if at and self.holes[at - 1][0] + self.holes[at - 1][1] == base:  # merge with the left
            at -= 1
            base, n = self.holes[at][0], self.holes[at][1] + n
            del self.holes[at]
        if at < len(self.holes) and base + n == self.holes[at][0]:  # ... and the right
            n += self.holes[at][1]
            del self.holes[at]
        if base + n == self.top:
            self.top = base
            if self.pte.size > _POOL_MIN and self.top < self.pte.size // 4:
                self.pte = self.pte[: max(_POOL_MIN, 2 * self.top)].copy()
        else:
            self.holes.insert(at, (base, n))

    # ------------------------------------------------------------------ snapshot

    def to_state(self) -> dict:
        return {
            "pte": self.pte[: self.top].copy(),
            "holes": [list(hole) for hole in self.holes],
            "guest_pages": self.guest_pages,
            "next_pid": self.next_pid,
            "counts": [self.virtual, self.resident, self.updates],
            "processes": [
                {
                    "pid": process.pid,
                    "name": process.name,
                    "next_page": process.next_page,
                    "born": process.born,
                    "vmas": [
                        [
                            vma.start,
                            vma.pages,
                            vma.base,
                            vma.name,
                            vma.region,
                            vma.touched,
                            _locate(self.processes, vma.shared),
                        ]
                        for vma in process.vmas
                    ],
                }
                for process in self.processes.values()
            ],
        }

    @classmethod
    def from_state(cls, state: dict) -> "AddressSpaces":
        spaces = cls.__new__(cls)
        spaces.top = state["pte"].size
        spaces.pte = np.full(max(_POOL_MIN, spaces.top), NOT_PRESENT, np.int32)
        spaces.pte[: spaces.top] = state["pte"]
        spaces.holes = [tuple(hole) for hole in state["holes"]]
        spaces.guest_pages = state["guest_pages"]
        spaces.next_pid = state["next_pid"]
        spaces.virtual, spaces.resident, spaces.updates = state["counts"]
        spaces.processes = {}
        shared_refs = []
        for entry in state["processes"]:
            process = Process(entry["pid"], entry["name"], entry["born"])
            process.next_page = entry["next_page"]
            for start, pages, base, name, region, touched, shared in entry["vmas"]:
                vma = VMA(start, pages, base, name, region)
                vma.touched = touched
                process.vmas.append(vma)
                if shared is not None:
                    shared_refs.append((vma, shared))
            spaces.processes[process.pid] = process
        for vma, (pid, index) in shared_refs:
            vma.shared = spaces.processes[pid].vmas[index]
        return spaces


def _locate(processes: dict[int, Process], vma: VMA | None) -> list[int] | None:
    if vma is None:
        return None
    for process in processes.values():
        for index, candidate in enumerate(process.vmas):
            if candidate is vma:
                return [process.pid, index]
    raise ValueError("a shared area's parent is not in any process")
