"""One powered-on VM as its virtual machine monitor sees it: the pmap and the write path.

The pmap maps each guest physical page to a machine frame, or to nothing (-1); a VM starts with
nothing mapped (Waldspurger 2002, section 2; DESIGN.md 4). Every guest write goes through `write`:

  * a page mapped to a frame only it uses is written in place;
  * a page mapped to a shared frame gets a private copy first (copy-on-write);
  * an unmapped page is first touched: it gets a free, zeroed frame (Granted and Consumed grow).

Counters are running totals, updated as pages change, so reading them costs nothing per page:
`granted`, `shared` and `zero` in pages, `consumed` in frames (a float: a shared frame is charged
in equal parts to the pages that map it).
"""

import numpy as np

from hostsim.engine.active import ActiveMemoryEstimator
from hostsim.engine.grouping import group_counts
from hostsim.engine.guest import GuestOS
from hostsim.engine.machine import MachineMemory
from hostsim.engine.sharing import ScanCursor, SharingDomain


class VirtualMachine:
    def __init__(self, vm_id: int, pages: int, machine: MachineMemory, rng: np.random.Generator, content):
        self.id = vm_id
        self.pages = pages
        self.machine = machine
        self.rng = rng
        self.content = content  # the host's ContentSource
        self.pmap = np.full(pages, -1, np.int32)
        self.granted = 0
        self.shared = 0
        self.zero = 0
        self.consumed = 0.0
        self.overhead_pages = 0  # reserved for this VM while it runs (set by the host)
        self.domain_key: tuple = ()  # its sharing domain, fixed at power-on
        self.domain: SharingDomain | None = None  # set while page sharing is on
        self.share_col = -1
        self.guest: GuestOS | None = None
        self.active = ActiveMemoryEstimator()
        self.cursor = ScanCursor(pages, rng)
        self.mmu_mode = ""
        self.mmu_rates = (0.0, 0.0)  # page-table updates and TLB misses per vCPU-second, last step

    @property
    def nbytes(self) -> int:
        guest = self.guest.nbytes if self.guest is not None else 0
        return self.pmap.nbytes + guest + self.active.pages.nbytes * 3

    def write(self, pages: np.ndarray, contents: np.ndarray) -> np.ndarray:
        """Write `contents` to the distinct guest `pages`; returns which pages could be backed.

        A page needing a new frame (first touch or copy-on-write) when no frame is free is not
        written: the guest cannot grow further (reclamation comes later in the lab).
        """
        machine = self.machine
        frames = self.pmap[pages]
        unmapped = frames < 0
        copy = ~unmapped
        copy[copy] = machine.refcount[frames[copy]] >= 2
        backed = np.ones(pages.size, bool)
        needing = np.flatnonzero(unmapped | copy)
        if needing.size > machine.free:
            refused = needing[machine.free :]
            backed[refused] = False
            unmapped[refused] = False
            copy[refused] = False
        in_place = backed & ~unmapped & ~copy
        if in_place.any():
            targets = frames[in_place]
            if self.domain is not None:
                self.domain.forget(targets)
            machine.content[targets] = contents[in_place]
        if copy.any():
            old = frames[copy]
            copies = machine.take(old.size)
            machine.content[copies] = contents[copy]
            self.pmap[pages[copy]] = copies
            self.consumed += old.size
            distinct_old, counts = group_counts(old)
            self.domain.drop_refs(self, distinct_old, counts)
        if unmapped.any():
            fresh = machine.take(int(np.count_nonzero(unmapped)))
            machine.content[fresh] = contents[unmapped]
            self.pmap[pages[unmapped]] = fresh
            self.granted += fresh.size
            self.consumed += fresh.size
        return backed

    def note_pages(self, pages: np.ndarray, region: int, touched: bool) -> None:
        self.active.note(pages, region, touched)

    def release_all(self) -> None:
        """Power-off: every frame goes back to the host (shared ones lose this VM's references)."""
        if self.domain is not None:
            self.domain.release_vm(self)
        else:
            self.machine.release(self.pmap[self.pmap >= 0])  # without sharing every frame is private
        self.pmap[:] = -1
        self.granted = self.shared = self.zero = 0
        self.consumed = 0.0
