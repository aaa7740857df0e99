"""One powered-on VM as its virtual machine monitor sees it: the pmap, the write path, reclamation.

The pmap maps each guest physical page to a machine frame, or says why it has none (`machine`):
untouched, ballooned, or swapped / compressed with its content in a slot (`reclaim`). A VM starts
with nothing mapped (Waldspurger 2002, section 2; DESIGN.md 4). Every guest write goes through
`write`, and no write is ever dropped:

  * a page mapped to a frame only it uses is written in place;
  * a page mapped to a shared frame gets a private copy first (copy-on-write);
  * an unmapped page is first touched: it gets a free, zeroed frame (Granted and Consumed grow);
  * a swapped or compressed page is faulted in first (the wait counts as stalled time).

A page that needs a frame asks the host's memory scheduler (`memsched`) for one; if the host is
short, the scheduler reclaims frames first and the VM stalls for that time. If no frame can be
had at all, the page is written and at once swapped out, as a thrashing VM's would be.

Large pages (VMware KB 1021095, "Transparent Page Sharing (TPS) in hardware MMU systems"): on a
hardware-MMU VM with Mem.AllocGuestLargePage 1, the first touch of a page in a 2 MB-aligned guest
region none of whose 512 pages has a frame backs the whole region at once with 512 zeroed frames,
a 2 MB large page, while the host has room (`MemoryScheduler.large_pages_for`). The frames need
not be contiguous here: the lab models the host's fragmentation by that room alone. A large page
is never shared (its sub-pages may be hints in the share table, `sharing`); it is broken back
into 512 small pages, flag cleared and nothing moved, before any of its pages is ballooned,
swapped or compressed, and by the scheduler as free memory falls. One flag per region
(`large`) and the frames' `LARGE_OWNER` bit say which are large.

Counters are running totals, updated as pages change, so reading them costs nothing per page:
`granted`, `shared`, `zero`, `ballooned`, `swapped`, `compressed` in pages, `zip_kb` in KB,
`consumed` in frames (a float: a shared frame is charged in equal parts to the pages that map it).
"""

import math
from typing import TYPE_CHECKING

import numpy as np

from hostsim.engine import reclaim
from hostsim.engine.active import ActiveMemoryEstimator
from hostsim.engine.advanced_settings import ALLOC_GUEST_LARGE_PAGE, MEM_ZIP_ENABLE, MEM_ZIP_MAX_PCT
from hostsim.engine.grouping import distinct, group_counts
from hostsim.engine.guest import REGIONS, GuestOS
from hostsim.engine.machine import (
    BALLOONED,
    FRAME,
    LARGE_OWNER,
    LARGE_PAGE_PAGES,
    LISTED,
    OWNER_SLOT,
    PAGE_SIZE_KB,
    SLOT_BASE,
    UNMAPPED,
    MachineMemory,
)
from hostsim.engine.mmu import HARDWARE, Activity
from hostsim.engine.reclaim import SlotStore, cache_frames, compressed_kb
from hostsim.engine.sharing import ScanCursor, SharingDomain

if TYPE_CHECKING:
    from hostsim.engine.memsched import MemoryScheduler

_CANDIDATE_ROUNDS = 3  # random draws for reclamation candidates before a full pass over the pmap
_OVERSAMPLE = 1.25
STATS = ("swapin_kb", "swapout_kb", "compress_kb", "decompress_kb", "stall_s")


class RunningVM:
    def __init__(
        self,
        vm_id: int,
        pages: int,
        machine: MachineMemory,
        rng: np.random.Generator,
        content,
        settings: dict,
    ):
        self.id = vm_id
        self.slot = 0  # its number among the host's running VMs, 1 up (machine frame owners)
        self.pages = pages
        self.machine = machine
        self.rng = rng
        self.content = content  # the host's ContentSource
        self.settings = settings  # the host's advanced settings (the same dict, kept current)
        self.scheduler: MemoryScheduler | None = None  # the host's, which hands out frames
        self.pmap = np.full(pages, UNMAPPED, np.int32)
        # One flag per whole 2 MB region of guest memory: backed by a large page (a last, partial
        # region never is).
        self.large = np.zeros(pages // LARGE_PAGE_PAGES, bool)
        self.large_count = 0  # regions backed by large pages
        self.granted = 0
        self.shared = 0
        self.zero = 0
        self.consumed = 0.0
        self.ballooned = 0
        self.swapped = 0
        self.compressed = 0
        self.zip_kb = 0
        self.cache_frames = 0  # machine frames its compression cache occupies
        self.store = SlotStore()
        self.slot_regions = np.zeros(REGIONS, np.int64)  # slots per guest region (read rates)
        self.overhead_pages = 0  # reserved for this VM while it runs (set by the host)
        # Resource settings, in pages (set by the host from the VM's config)
        self.reservation = 0
        self.limit = pages  # min(limit, configured size)
        self.cap = pages  # what it may hold: its limit, or less within a limited pool
        self.shares = 0
        self.balloon_driver = True
        self.touched_reservation = 0  # min(reservation, what it held since the reservation was set)
        self.entitlement = float(pages)
        self.balloon_target = 0
        self.swap_target = 0
        # Cumulative statistics (KB of guest memory; stall in vCPU-seconds), and the real-time
        # sample interval's figures, published at each interval's end.
        self.stats = dict.fromkeys(STATS, 0.0)
        self.window_began = 0.0
        self.window_base = dict(self.stats)
        self.rates = {"swapin": 0.0, "swapout": 0.0, "compress": 0.0, "decompress": 0.0}
        self.latency = 0  # hundredths of a percent of the last interval spent waiting
        self.domain_key: tuple = ()  # its sharing domain, fixed at power-on
        self.domain: SharingDomain | None = None  # set while page sharing is on
        self.share_col = -1
        # The guest OS, attached right after construction (HostSim.power_on, from_state): it
        # writes through this VM, so it cannot exist before it.
        self.guest: GuestOS
        self.active = ActiveMemoryEstimator()
        self.cursor = ScanCursor(pages, rng)
        self.mmu_mode = ""
        self.mmu_activity = Activity()  # what the MMU saw over the last step (`mmu`)

    @property
    def sharing(self) -> SharingDomain:
        """The VM's sharing domain, where a page can only be shared or hinted while it has one."""
        assert self.domain is not None, f"VM {self.id} is in no sharing domain"
        return self.domain

    @property
    def nbytes(self) -> int:
        guest = self.guest.nbytes if hasattr(self, "guest") else 0
        return (
            self.pmap.nbytes
            + self.large.nbytes
            + guest
            + self.active.pages.nbytes * 3
            + self.store.nbytes
        )

    @property
    def reclaimable(self) -> int:
        """Pages reclamation may still take: what it holds above its touched reservation."""
        return max(0, self.granted - self.touched_reservation)

    # ------------------------------------------------------------------ the write path

    def write(self, pages: np.ndarray, contents: np.ndarray) -> None:
        """Write `contents` to the distinct guest `pages` (never ballooned ones)."""
        machine = self.machine
        entries = self.pmap[pages]
        if self.large_allowed and self.large.size:
            untouched = entries == UNMAPPED
            if untouched.any() and self._back_large(pages.compress(untouched)):
                entries = self.pmap[pages]
        outside = entries <= SLOT_BASE
        if outside.any():  # swapped or compressed: fault the page in before it is written
            self._discard_slots(SLOT_BASE - entries.compress(outside), faulted=True)
            entries[outside] = UNMAPPED
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
            return
        in_place = ~needs_frame
        if in_place.any():
            self._write_in_place(
                pages.compress(in_place),
                frames.compress(in_place),
                contents.compress(in_place),
                listed.compress(in_place),
            )
        needing = needs_frame.nonzero()[0]
        given = self._frames_for(needing.size, pages, int(np.count_nonzero(unmapped)))
        backed, spilled = needing[:given], needing[given:]
        copy = backed.compress(shared[backed])
        if copy.size:
            old = frames[copy]
            copies = machine.take(copy.size, self.slot)
            machine.content[copies] = contents[copy]
            self.pmap[pages[copy]] = copies
            self.consumed += copy.size
            self.sharing.drop_refs(self, *group_counts(old))
        first = backed.compress(~shared[backed])
        if first.size:
            fresh = machine.take(first.size, self.slot)
            machine.content[fresh] = contents[first]
            self.pmap[pages[first]] = fresh
            self.granted += fresh.size
            self.consumed += fresh.size
        if spilled.size:
            # No frame to be had: the page is written and swapped out at once (thrashing).
            broken = spilled.compress(shared[spilled])
            if broken.size:
                self.sharing.drop_refs(self, *group_counts(frames[broken]))
                self.granted -= broken.size
            self._store_out(pages[spilled], contents[spilled])
            self.stats["stall_s"] += spilled.size * reclaim.SWAP_OUT_S
        self._note_granted()

    # ------------------------------------------------------------------ large pages

    @property
    def large_allowed(self) -> bool:
        """Large pages back this VM's new memory: hardware MMU and Mem.AllocGuestLargePage 1."""
        return self.mmu_mode == HARDWARE and bool(self.settings[ALLOC_GUEST_LARGE_PAGE])

    @property
    def large_fraction(self) -> float:
        """The part of its guest memory large pages back (the 2D walk's length, `mmu`)."""
        return self.large_count * LARGE_PAGE_PAGES / self.pages

    def _back_large(self, untouched: np.ndarray) -> int:
        """Back with large pages the whole regions of the `untouched` pages none of whose pages
        has a frame, as far as the host has room; returns the regions backed.
        """
        room = self.large.size
        if self.scheduler is not None:
            room = self.scheduler.large_pages_for(self, room)
        if not room:  # no room: not worth looking at the regions
            return 0
        regions = distinct(untouched // LARGE_PAGE_PAGES)
        regions = regions.compress(regions < self.large.size)
        whole = self.pmap[: self.large.size * LARGE_PAGE_PAGES].reshape(-1, LARGE_PAGE_PAGES)
        regions = regions.compress((whole[regions] == UNMAPPED).all(axis=1))[:room]
        if not regions.size:
            return 0
        frames = self.machine.take(regions.size * LARGE_PAGE_PAGES, self.slot | int(LARGE_OWNER))
        whole[regions] = frames.reshape(-1, LARGE_PAGE_PAGES)
        self.large[regions] = True
        self.large_count += regions.size
        self.granted += frames.size
        self.consumed += frames.size
        self._note_granted()
        return regions.size

    def sub_pages(self, regions: np.ndarray) -> np.ndarray:
        """The guest pages of the 2 MB `regions`, region by region."""
        first = regions.astype(np.int32) * LARGE_PAGE_PAGES
        return (first[:, None] + np.arange(LARGE_PAGE_PAGES, dtype=np.int32)).ravel()

    def break_large(self, regions: np.ndarray) -> np.ndarray:
        """Break the large pages of the distinct `regions` into small pages (no frame moves);
        returns their sub-pages.
        """
        pages = self.sub_pages(regions)
        if pages.size:
            frames = self.pmap[pages] & FRAME
            self.machine.owner[frames] &= OWNER_SLOT
            self.large[regions] = False
            self.large_count -= regions.size
        return pages

    def break_large_of(self, pages: np.ndarray) -> None:
        """A large page is always broken before any of its pages leaves its frame (KB 1021095)."""
        if self.large_count and pages.size:
            regions = distinct(pages // LARGE_PAGE_PAGES)
            regions = regions.compress(regions < self.large.size)
            self.break_large(regions.compress(self.large[regions]))

    def break_random_large(self, n: int, share: bool) -> int:
        """Break `n` of the VM's large pages, picked at random; with `share`, their sub-pages are
        looked up in the share table at once (the scanner hashed them while they were large, so
        the pages whose content another page holds share now). Returns the pages freed.
        """
        held = self.large.nonzero()[0]
        if n < held.size:
            held = np.sort(self.rng.choice(held, n, replace=False))
        pages = self.break_large(held)
        if not share or self.domain is None or not pages.size:
            return 0
        return self.domain.scan(self, pages)

    def _frames_for(self, n: int, busy: np.ndarray, growing: int) -> int:
        if self.scheduler is None:
            return min(n, self.machine.free)
        return self.scheduler.frames_for(self, n, busy, growing)

    def _write_in_place(self, pages, frames, contents, hints) -> None:
        """Private frames take new content; those listed as hints leave the share table first."""
        if hints.any():
            hinted = frames.compress(hints)
            self.sharing.forget(hinted)
            self.pmap[pages.compress(hints)] = hinted
        self.machine.content[frames] = contents

    def _note_granted(self) -> None:
        if self.granted > self.touched_reservation and self.touched_reservation < self.reservation:
            self.touched_reservation = min(self.reservation, self.granted)

    def set_reservation(self, pages: int) -> None:
        """A new reservation protects what the VM holds now, and what it touches later, up to it."""
        self.reservation = pages
        self.touched_reservation = min(pages, self.granted)

    def note_pages(self, pages: np.ndarray, region: int, touched: bool, moved: bool) -> None:
        """The guest puts `pages` on `region` (its `region` array still has the old ones)."""
        self.active.note(pages, region, touched)
        if moved and self.store.count:
            moving = pages.compress(self.pmap[pages] <= SLOT_BASE)
            if moving.size:
                self.slot_regions -= np.bincount(self.guest.region[moving], minlength=REGIONS)
                self.slot_regions[region] += moving.size

    # ------------------------------------------------------------------ pages leaving memory

    def _unmap(self, pages: np.ndarray, entries: np.ndarray) -> np.ndarray:
        """Mapped `pages` give up their frames (shared ones lose a reference); returns contents."""
        self.break_large_of(pages)
        machine = self.machine
        frames = entries & FRAME
        contents = machine.content[frames]
        private = machine.refcount[frames] == 1
        own = frames.compress(private)
        hinted = own.compress(entries.compress(private) >= LISTED)
        if hinted.size:
            self.sharing.forget(hinted)
        machine.release(own)
        self.consumed -= own.size
        if own.size < frames.size:
            self.sharing.drop_refs(self, *group_counts(frames.compress(~private)))
        self.granted -= pages.size
        return contents

    def _store_out(self, pages: np.ndarray, contents: np.ndarray) -> None:
        """Put pages without a frame into slots: the compression cache if they fit, else disk."""
        zipped = np.zeros(pages.size, np.int8)
        # The cache grows into free frames only (a page written straight out brings no frame).
        in_frames = (self.cache_frames + self.machine.free) * PAGE_SIZE_KB - self.zip_kb
        room = min(self.zip_room_kb(), in_frames)
        if room > 0:
            kb = compressed_kb(contents)
            fits = (kb > 0) & (np.cumsum(kb, dtype=np.int64) <= room)
            zipped[fits] = kb[fits]
        slots = self.store.put(pages, contents, zipped)
        self.pmap[pages] = SLOT_BASE - slots
        self.slot_regions += np.bincount(self.guest.region[pages], minlength=REGIONS)
        into_cache = int(np.count_nonzero(zipped))
        self.compressed += into_cache
        self.swapped += pages.size - into_cache
        self.stats["compress_kb"] += into_cache * PAGE_SIZE_KB
        self.stats["swapout_kb"] += (pages.size - into_cache) * PAGE_SIZE_KB
        self._resize_cache(int(zipped.sum(dtype=np.int64)))

    def zip_room_kb(self) -> int:
        if not self.settings[MEM_ZIP_ENABLE]:
            return 0
        return self.pages * PAGE_SIZE_KB * self.settings[MEM_ZIP_MAX_PCT] // 100 - self.zip_kb

    def _resize_cache(self, delta_kb: int) -> None:
        self.zip_kb += delta_kb
        frames = cache_frames(self.zip_kb)
        self.machine.zip_frames += frames - self.cache_frames
        self.cache_frames = frames

    def _discard_slots(self, slots: np.ndarray, faulted: bool) -> tuple[np.ndarray, np.ndarray]:
        """Free slots; `faulted`: the guest touched them, so they were read back (it waited)."""
        pages, contents, zipped = self.store.take(slots)
        self.slot_regions -= np.bincount(self.guest.region[pages], minlength=REGIONS)
        from_cache = int(np.count_nonzero(zipped))
        from_disk = slots.size - from_cache
        self.compressed -= from_cache
        self.swapped -= from_disk
        self._resize_cache(-int(zipped.sum(dtype=np.int64)))
        if faulted:
            self.stats["decompress_kb"] += from_cache * PAGE_SIZE_KB
            self.stats["swapin_kb"] += from_disk * PAGE_SIZE_KB
            waited = from_cache * reclaim.DECOMPRESS_S + from_disk * reclaim.SWAP_IN_S
            self.stats["stall_s"] += waited
        self.store.compact(self.pmap, SLOT_BASE)
        return pages, contents

    def reclaim_pages(self, pages: np.ndarray) -> None:
        """Host swapping: mapped `pages` go to the compression cache or the swap file."""
        if pages.size:
            self._store_out(pages, self._unmap(pages, self.pmap[pages]))

    def fault_in(self, pages: np.ndarray) -> None:
        """The guest touched swapped or compressed `pages`: they come back into frames."""
        slots = SLOT_BASE - self.pmap[pages]
        given = self._frames_for(pages.size, pages, pages.size)
        if given < pages.size:  # read, and swapped out again at once
            waited = slots[given:]
            self.stats["stall_s"] += waited.size * reclaim.SWAP_IN_S
            slots = slots[:given]
        back, contents = self._discard_slots(slots, faulted=True)
        frames = self.machine.take(back.size, self.slot)
        self.machine.content[frames] = contents
        self.pmap[back] = frames
        self.granted += back.size
        self.consumed += back.size
        self._note_granted()

    def take_random(
        self,
        n: int,
        exclude: np.ndarray | None = None,
        allow_shared: bool = False,
    ) -> np.ndarray:
        """Up to `n` distinct random mapped pages above the touched reservation (ESX picks swap
        victims at random, Waldspurger 2002, section 3.3): private ones unless `allow_shared`,
        none of `exclude`.
        """
        n = min(n, self.reclaimable)
        usable = self.granted if allow_shared else self.granted - self.shared
        if n <= 0 or usable <= 0:
            return np.zeros(0, np.int32)
        picked = np.zeros(0, np.int32)
        for attempt in range(_CANDIDATE_ROUNDS + 1):
            wanted = n - picked.size
            if attempt < _CANDIDATE_ROUNDS:
                draws = math.ceil(wanted * self.pages / usable * _OVERSAMPLE) + 32
                candidates = distinct(
                    self.rng.integers(0, self.pages, draws).astype(np.int32), bound=self.pages
                )
            else:  # the random draws missed: look at every page once
                candidates = (self.pmap >= 0).nonzero()[0].astype(np.int32)
            candidates = candidates.compress(self._eligible(candidates, allow_shared))
            if exclude is not None and exclude.size:
                candidates = candidates.compress(~np.isin(candidates, exclude))
            if picked.size:
                candidates = candidates.compress(~np.isin(candidates, picked))
            if candidates.size > wanted:
                candidates = candidates[self.rng.choice(candidates.size, wanted, replace=False)]
            picked = np.concatenate([picked, candidates])
            if picked.size >= n:
                break
        return picked

    def _eligible(self, pages: np.ndarray, allow_shared: bool) -> np.ndarray:
        entries = self.pmap[pages]
        ok = entries >= 0
        if not allow_shared:
            frames = np.where(ok, entries, 0) & FRAME
            ok &= ~((entries >= LISTED) & (self.machine.refcount[frames] >= 2))
        return ok

    def share_zero_pages(self, pages: np.ndarray) -> np.ndarray:
        """Share before swap: the zero pages among `pages` are shared, not swapped (ESXi checks a
        swap candidate against the share table first). Returns the pages left to swap.
        """
        if self.domain is None or not pages.size:
            return pages
        self.break_large_of(pages)
        zero = self.machine.content[self.pmap[pages] & FRAME] == 0
        if zero.any():
            self.domain.scan(self, pages.compress(zero))
        return pages.compress(~zero)

    def evict_cache(self, kb: int) -> None:
        """The cache must shrink by `kb` (it was made smaller or turned off): its oldest slots'
        pages are written to the swap file.
        """
        live = self.store.live()
        zipped = live.compress(self.store.zip_kb[live] > 0)
        moved = zipped[: int(np.searchsorted(np.cumsum(self.store.zip_kb[zipped]), kb)) + 1]
        if not moved.size:
            return
        freed = int(self.store.zip_kb[moved].sum(dtype=np.int64))
        self.store.zip_kb[moved] = 0
        self.compressed -= moved.size
        self.swapped += moved.size
        self.stats["swapout_kb"] += moved.size * PAGE_SIZE_KB
        self._resize_cache(-freed)

    # ------------------------------------------------------------------ the balloon

    def to_balloon(self, pages: np.ndarray) -> None:
        """The balloon driver holds these guest pages now: whatever backed them is given back."""
        entries = self.pmap[pages]
        mapped = entries >= 0
        if mapped.any():
            self._unmap(pages.compress(mapped), entries.compress(mapped))
        outside = entries <= SLOT_BASE
        if outside.any():  # the guest gave a swapped page away: its copy is dropped, no I/O
            self._discard_slots(SLOT_BASE - entries.compress(outside), faulted=False)
        self.pmap[pages] = BALLOONED
        self.ballooned += pages.size

    def from_balloon(self, pages: np.ndarray) -> None:
        """The balloon deflates: the guest gets these pages back, untouched (no frame yet)."""
        self.pmap[pages] = UNMAPPED
        self.ballooned -= pages.size

    # ------------------------------------------------------------------ time and power

    def end_interval(self, clock: float) -> None:
        """Publish rates and latency over the real-time interval that ends now."""
        length = clock - self.window_began
        if length <= 0:
            return
        delta = {name: self.stats[name] - self.window_base[name] for name in STATS}
        self.rates = {
            "swapin": delta["swapin_kb"] / length,
            "swapout": delta["swapout_kb"] / length,
            "compress": delta["compress_kb"] / length,
            "decompress": delta["decompress_kb"] / length,
        }
        waited = delta["stall_s"] / (self.guest.vcpus * length)
        self.latency = round(10_000 * min(1.0, waited))
        self.window_base = dict(self.stats)
        self.window_began = clock

    def release_all(self) -> None:
        """Power-off: every frame goes back to the host (shared ones lose this VM's references)."""
        if self.domain is not None:
            self.domain.release_vm(self)
        else:
            # Without page sharing every frame is private to its page, and none is listed.
            self.machine.release(self.pmap.compress(self.pmap >= 0))
        self.machine.zip_frames -= self.cache_frames
        self.pmap[:] = UNMAPPED
        self.large[:] = False
        self.large_count = 0
        self.store = SlotStore()
        self.slot_regions[:] = 0
        self.granted = self.shared = self.zero = 0
        self.ballooned = self.swapped = self.compressed = self.zip_kb = self.cache_frames = 0
        self.consumed = 0.0

    # ------------------------------------------------------------------ snapshot

    def to_state(self) -> dict:
        return {
            "pages": self.pages,
            "pmap": self.pmap,
            "large": self.large,
            "counts": [
                self.granted,
                self.shared,
                self.zero,
                self.ballooned,
                self.swapped,
                self.compressed,
                self.zip_kb,
                self.cache_frames,
            ],
            "consumed": self.consumed,
            "store": self.store.to_state(),
            "slot_regions": self.slot_regions,
            "overhead_pages": self.overhead_pages,
            "policy": [
                self.reservation,
                self.limit,
                self.cap,
                self.shares,
                self.balloon_driver,
                self.touched_reservation,
                self.balloon_target,
                self.swap_target,
            ],
            "entitlement": self.entitlement,
            "stats": self.stats,
            "window_began": self.window_began,
            "window_base": self.window_base,
            "rates": self.rates,
            "latency": self.latency,
            "domain_key": list(self.domain_key),
            "guest": self.guest.to_state(),
            "active": self.active.to_state(),
            "cursor": self.cursor.to_state(),
            "mmu_mode": self.mmu_mode,
            "mmu_activity": self.mmu_activity.to_state(),
            "slot": self.slot,
        }

    @classmethod
    def from_state(
        cls, vm_id: int, state: dict, machine: MachineMemory, rng, content, settings: dict
    ) -> "RunningVM":
        vm = cls.__new__(cls)
        vm.id = vm_id
        vm.pages = state["pages"]
        vm.machine, vm.rng, vm.content, vm.settings = machine, rng, content, settings
        vm.scheduler = None
        vm.pmap = state["pmap"]
        vm.large = state["large"]
        vm.large_count = int(np.count_nonzero(vm.large))
        (
            vm.granted,
            vm.shared,
            vm.zero,
            vm.ballooned,
            vm.swapped,
            vm.compressed,
            vm.zip_kb,
            vm.cache_frames,
        ) = state["counts"]
        vm.consumed = state["consumed"]
        vm.store = SlotStore.from_state(state["store"])
        vm.slot_regions = state["slot_regions"]
        vm.overhead_pages = state["overhead_pages"]
        (
            vm.reservation,
            vm.limit,
            vm.cap,
            vm.shares,
            vm.balloon_driver,
            vm.touched_reservation,
            vm.balloon_target,
            vm.swap_target,
        ) = state["policy"]
        vm.entitlement = state["entitlement"]
        vm.stats = dict(state["stats"])
        vm.window_began = state["window_began"]
        vm.window_base = dict(state["window_base"])
        vm.rates = dict(state["rates"])
        vm.latency = state["latency"]
        vm.domain_key = tuple(state["domain_key"])
        vm.domain, vm.share_col = None, -1
        vm.guest = GuestOS.from_state(state["guest"], vm)
        vm.active = ActiveMemoryEstimator.from_state(state["active"])
        vm.cursor = ScanCursor.from_state(state["cursor"], vm.pages)
        vm.mmu_mode = state["mmu_mode"]
        vm.mmu_activity = Activity(*state["mmu_activity"])
        vm.slot = state["slot"]
        return vm
