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
from hostsim.engine.machine import FRAME, LISTED, UNMAPPED, MachineMemory
from hostsim.engine.sharing import ScanCursor, SharingDomain


class VirtualMachine:
    def __init__(
        self, vm_id: int, pages: int, machine: MachineMemory, rng: np.random.Generator, content
    ):
        self.id = vm_id
        self.pages = pages
        self.machine = machine
        self.rng = rng
        self.content = content  # the host's ContentSource
        self.pmap = np.full(pages, UNMAPPED, np.int32)
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
        entries = self.pmap[pages]
        unmapped = entries < 0
        frames = entries & FRAME
        # Every shared frame is in the share table, so only listed frames can need a copy; the
        # listed private ones are hints, which leave the table before their content changes.
        listed = entries >= LISTED
        shared = np.zeros(pages.size, bool)
        if listed.any():
            at = listed.nonzero()[0]
            shared[at] = machine.refcount[frames[at]] >= 2
        needs_frame = unmapped | shared  # first touch, or copy-on-write
        if not needs_frame.any():  # the common case: rewriting private pages in place
            self._write_in_place(pages, frames, contents, listed)
            return np.ones(pages.size, bool)
        backed = np.ones(pages.size, bool)
        needing = needs_frame.nonzero()[0]
        if needing.size > machine.free:
            refused = needing[machine.free :]
            backed[refused] = False
            needs_frame[refused] = False
            shared[refused] = False
        in_place = backed & ~needs_frame
        if in_place.any():
            self._write_in_place(
                pages.compress(in_place),
                frames.compress(in_place),
                contents.compress(in_place),
                listed.compress(in_place),
            )
        if shared.any():
            old = frames.compress(shared)
            copies = machine.take(old.size)
            machine.content[copies] = contents.compress(shared)
            self.pmap[pages.compress(shared)] = copies
            self.consumed += old.size
            distinct_old, counts = group_counts(old)
            self.domain.drop_refs(self, distinct_old, counts)
        first_touch = needs_frame & unmapped
        if first_touch.any():
            fresh = machine.take(int(np.count_nonzero(first_touch)))
            machine.content[fresh] = contents.compress(first_touch)
            self.pmap[pages.compress(first_touch)] = fresh
            self.granted += fresh.size
            self.consumed += fresh.size
        return backed

    def _write_in_place(self, pages, frames, contents, hints) -> None:
        """Private frames take new content; those listed as hints leave the share table first."""
        if hints.any():
            hinted = frames.compress(hints)
            self.domain.forget(hinted)
            self.pmap[pages.compress(hints)] = hinted
        self.machine.content[frames] = contents

    def note_pages(self, pages: np.ndarray, region: int, touched: bool) -> None:
        self.active.note(pages, region, touched)

    def release_all(self) -> None:
        """Power-off: every frame goes back to the host (shared ones lose this VM's references)."""
        if self.domain is not None:
            self.domain.release_vm(self)
        else:
            # Without page sharing every frame is private to its page, and none is listed.
            self.machine.release(self.pmap.compress(self.pmap >= 0))
        self.pmap[:] = UNMAPPED
        self.granted = self.shared = self.zero = 0
        self.consumed = 0.0
