"""The host's memory scheduler: free memory state, entitlement, and reclamation (DESIGN.md 4b).

Every step (at most one real-time interval, 20 s) it

1. recomputes each VM's entitlement when a Mem.BalancePeriod boundary has passed (`entitlement`),
   and at once when VMs, their settings or the resource tree change;
2. reclaims toward it, by free memory state (`free_memory`; Waldspurger 2002, section 6.3;
   vSphere Resource Management, "Memory Reclamation"):
     * a VM above its limit gives the excess back in any state: a limit is enforced even on an
       idle host (the 4 GB VM limited to 1 GB balloons and swaps with 20 GB free); the balloon
       keeps the guest within the limit, host swapping takes what the balloon has not (yet);
     * in soft (and worse) the host needs free memory back up to minFree: each VM above its
       entitlement gives its part of the shortfall, in proportion to its excess;
     * soft: the balloon inflates, rate-limited, at most Mem.CtlMaxPercent of the VM; a VM
       without a running balloon driver (none, or its guest still booting) or with a full
       balloon is swapped instead;
     * hard and low: ballooning stops; compression and host swapping of random pages, zero
       pages shared rather than swapped (share before swap);
     * high: balloons deflate toward entitlement;
3. lets guests touch what was reclaimed: a swapped or compressed page the guest reads comes back
   (the wait is the VM's stalled time, shown as mem.latency). Writes do the same in `vmm`.

Large pages (VMware KB 1021095; DESIGN.md 4b; `vmm`): a hardware-MMU VM gets a 2 MB large page
only while the host is in the high state with at least `LARGE_PAGE_FREE` x minFree (400%) free
after taking it, our simple model of the host still having free 2 MB runs (below that we assume
memory too fragmented or overcommitted for them). Below 400% of minFree the host breaks large pages,
`LARGE_BREAK_MB_PER_S` of them, and the sharing the scanner's hints allow follows at once; in the
clear state and worse it breaks them `LARGE_BREAK_CLEAR_FACTOR` times faster while TPS is called
actively (vSphere 6.0 and later, Duncan Epping's table of the states). Reclamation breaks a large
page before it takes any of its pages (`vmm.RunningVM.break_large_of`).

When a write needs frames the host does not have (or in low state, for a VM above its target,
which ESXi blocks), `frames_for` reclaims them on the spot from the VMs most above their
entitlement, and the writer stalls for that I/O (our model of ESXi's blocking: it waits until
the frames exist). A VM never loses what it holds within its touched reservation.
"""

import math

import numpy as np

from hostsim.engine import free_memory, reclaim
from hostsim.engine.advanced_settings import (
    BALANCE_PERIOD,
    CTL_MAX_PERCENT,
    IDLE_TAX,
    MEM_MIN_FREE_PCT,
)
from hostsim.engine.entitlement import ResourceTree, VmClaim, entitlements
from hostsim.engine.free_memory import CLEAR, HARD, HIGH, LOW, SOFT
from hostsim.engine.grouping import distinct
from hostsim.engine.machine import LARGE_PAGE_PAGES, PAGES_PER_MB, SLOT_BASE, MachineMemory
from hostsim.engine.vmm import RunningVM

# Reclamation aims at this much free memory, as a fraction of minFree: past the high state's
# hysteresis margin, so that a host that was reclaiming settles in high (our choice).
TARGET_FREE = 1.0 + 2 * free_memory.HYSTERESIS
_PART_PAGES = 16_384  # frames_for judges large requests in parts of at least 64 MB ...
_PARTS = 8  # ... and at most 8 parts
_SWAP_ROUNDS = 16  # a compressed page frees only 2 or 3 KB of its frame: rounds until the goal
LARGE_PAGE_FREE = 4.0  # large pages are given, and kept, at or above 400% of minFree (KB 1021095)
# How fast the host breaks large pages below that, host-wide (our choice: about 2.5 GB per 20 s
# sample in the high state, so that sharing appears within a few samples once memory is tight),
# and how much faster in the clear state and worse, where memory is short already.
LARGE_BREAK_MB_PER_S = 128
LARGE_BREAK_CLEAR_FACTOR = 8


class MemoryScheduler:
    def __init__(self, machine: MachineMemory, settings: dict, host_memory_mb: int, rng):
        self.machine = machine
        self.settings = settings  # the host's advanced settings (the same dict, kept current)
        self.host_memory_mb = host_memory_mb
        self.rng = rng
        self.state = HIGH
        self.tree = ResourceTree.root_only()
        self.vms: list[RunningVM] = []  # the running VMs, kept by the host
        self.break_carry = 0.0  # large pages due to be broken, a fraction of one left over

    # ------------------------------------------------------------------ free memory state

    @property
    def min_free(self) -> int:
        return free_memory.min_free_pages(self.host_memory_mb, self.settings[MEM_MIN_FREE_PCT])

    @property
    def target_free(self) -> float:
        return TARGET_FREE * self.min_free

    def update_state(self) -> None:
        self.state = free_memory.next_state(self.state, self.machine.free, self.min_free)

    @property
    def large_page_free(self) -> float:
        """Free memory (pages) at and above which large pages are given and kept."""
        return LARGE_PAGE_FREE * self.min_free

    def balance_due(self, start: float, end: float) -> bool:
        period = self.settings[BALANCE_PERIOD]
        return math.floor(end / period + 1e-9) > math.floor(start / period + 1e-9)

    # ------------------------------------------------------------------ entitlement

    @property
    def capacity(self) -> float:
        """Pages the VMs' guest memory may have while the host keeps its target free memory."""
        machine = self.machine
        return max(0.0, machine.frames - machine.reserved - machine.zip_frames - self.target_free)

    def balance(self) -> None:
        claims = [
            VmClaim(
                vm.id,
                vm.pages,
                float(vm.reservation),
                float(vm.limit),
                float(vm.shares),
                vm.active.estimate * vm.pages,
                vm.consumed,
            )
            for vm in self.vms
        ]
        given = entitlements(self.tree, claims, self.capacity, self.settings[IDLE_TAX] / 100)
        for vm in self.vms:
            vm.entitlement = given[vm.id]
            # A limited pool is enforced like a limit on each of its VMs: what they are entitled
            # to within it (vSphere Resource Management, "Resource Pool Attributes": a limit is
            # an upper bound, contention or not).
            limited = self.tree.limited(self.tree.pool_of(vm.id))
            vm.cap = min(vm.limit, math.floor(vm.entitlement)) if limited else vm.limit

    # ------------------------------------------------------------------ frames for writes

    def frames_for(self, vm: RunningVM, n: int, busy: np.ndarray, growing: int) -> int:
        """How many of `n` frames `vm` may take now (machine.free holds them); reclaims first
        when the host or the VM's limit requires it. `growing` of the `n` pages are new to the VM
        (the others are copy-on-write copies); `busy`: the pages being written (kept).

        Large requests go in parts, each judged on what the VM holds by then, so one large write
        cannot take all the free memory of a host in the low state.
        """
        machine = self.machine
        given = grown = 0
        while given < n:
            part = min(n - given, max(_PART_PAGES, n // _PARTS))
            growth = math.ceil(growing * (given + part) / n) - grown
            room = max(0, vm.cap - vm.granted - grown)
            allowed = part - max(0, growth - room)
            if self.state == LOW and vm.consumed + given >= vm.entitlement:
                allowed = 0  # low state: VMs above their target wait for their own pages to go
            before = machine.free
            if allowed < part:  # beyond its limit, or blocked: the VM's own pages make room
                self._swap_out(vm, part - allowed, busy)
                vm.stats["stall_s"] += (machine.free - before) * reclaim.SWAP_OUT_S
            own = machine.free - before
            available = before - given
            if available < allowed:
                available += self._reclaim_for(allowed - available, vm, busy)
            got = min(part, own + min(allowed, available))
            given += got
            grown += min(growth, got)
            if got < part:
                break
        return given

    def _reclaim_for(self, short: int, requester: RunningVM, busy: np.ndarray) -> int:
        """Free `short` frames by swapping: first VMs above their entitlement (most above first),
        then any VM above its touched reservation. The requester waits for the I/O.
        """
        machine = self.machine
        start = machine.free
        victims = sorted(self.vms, key=lambda v: (v.entitlement - v.consumed, v.id))
        for above_target in (True, False):
            for victim in victims:
                missing = short - (machine.free - start)
                if missing <= 0:
                    break
                if above_target:
                    missing = min(missing, math.ceil(victim.consumed - victim.entitlement))
                if missing <= 0:
                    continue
                self._swap_out(victim, missing, busy if victim is requester else None)
        freed = machine.free - start
        requester.stats["stall_s"] += freed * reclaim.SWAP_OUT_S
        return freed

    def _swap_out(
        self, vm: RunningVM, frames: int, exclude: np.ndarray | None, share_zero: bool = False
    ) -> None:
        """Swap random private pages of `vm` out until `frames` more frames are free (compressed
        pages keep part of a frame, so it may take a few rounds), or it has none left to give.
        `share_zero`: share before swap, zero pages are shared rather than swapped (not while a
        write is under way: sharing could reach the frames it is writing).
        """
        machine = self.machine
        goal = machine.free + frames
        for _ in range(_SWAP_ROUNDS):
            missing = goal - machine.free
            pages = vm.take_random(missing, exclude=exclude) if missing > 0 else None
            if pages is None or not pages.size:
                return
            vm.reclaim_pages(vm.share_zero_pages(pages) if share_zero else pages)

    # ------------------------------------------------------------------ large pages

    def large_pages_for(self, vm: RunningVM, n: int) -> int:
        """How many of `n` large pages `vm` may be given now (the first touches asking for them
        fall back to small pages otherwise): the high state, 400% of minFree left free after
        them, and within what the VM may hold.
        """
        if self.state != HIGH:
            return 0
        by_free = (self.machine.free - self.large_page_free) // LARGE_PAGE_PAGES
        by_cap = (vm.cap - vm.granted) // LARGE_PAGE_PAGES
        return int(max(0, min(n, by_free, by_cap)))

    def break_large_pages(self, dt: float, share: bool) -> None:
        """Below 400% of minFree, break large pages for `dt` seconds at the state's rate, from
        each VM in proportion to the large pages it holds; with `share` their sub-pages are
        shared at once where the share table holds their content.
        """
        holders = [vm for vm in self.vms if vm.large_count]
        if not holders or self.machine.free >= self.large_page_free:
            self.break_carry = 0.0
            return
        factor = LARGE_BREAK_CLEAR_FACTOR if self.state >= CLEAR else 1
        self.break_carry += LARGE_BREAK_MB_PER_S * factor * dt * PAGES_PER_MB / LARGE_PAGE_PAGES
        due = int(self.break_carry)
        self.break_carry -= due
        total = sum(vm.large_count for vm in holders)
        for vm in holders:
            part = math.ceil(due * vm.large_count / total)
            vm.break_random_large(min(vm.large_count, part), share)
        self.update_state()

    # ------------------------------------------------------------------ reclamation

    def reclaim(self, dt: float) -> None:
        machine, state = self.machine, self.state
        ctl_max = self.settings[CTL_MAX_PERCENT] / 100
        rate = math.ceil(reclaim.BALLOON_MB_PER_S * PAGES_PER_MB * dt)
        need = max(0.0, self.target_free - machine.free) if state >= SOFT else 0.0
        excess = {vm.id: max(0.0, vm.consumed - vm.entitlement) for vm in self.vms}
        total_excess = sum(excess.values())
        for vm in self.vms:
            room = vm.zip_room_kb()
            if room < 0:
                vm.evict_cache(-room)
            driver = vm.balloon_driver and vm.guest.booted and ctl_max > 0
            cap = min(int(ctl_max * vm.pages), vm.pages - vm.reservation) if driver else 0
            if vm.ballooned > cap:  # the driver stopped, or may hold less now
                self._deflate(vm, vm.ballooned - cap)
            floor = min(cap, max(0, vm.pages - vm.cap))
            share = excess[vm.id] * need / total_excess if need and total_excess else 0.0
            over_limit = max(0, vm.granted - vm.cap)
            wanted = math.ceil(max(over_limit, share))
            if not driver:
                target = 0
            elif wanted:
                target = min(cap, max(floor, vm.ballooned + wanted))
            elif state == HIGH:
                target = floor  # nothing to reclaim: the balloon goes back to its floor
            else:
                target = max(floor, vm.ballooned)  # clear: it neither grows nor shrinks
            consumed = vm.consumed
            if state <= SOFT and target > vm.ballooned:
                self._inflate(vm, min(target - vm.ballooned, rate, vm.reclaimable))
            elif state == HIGH and vm.ballooned > target:
                # Deflate as far as its entitlement allows: it may touch those pages again.
                room_left = math.floor(vm.entitlement - vm.consumed)
                self._deflate(vm, min(vm.ballooned - target, rate, room_left))
            over_limit = max(0, vm.granted - vm.cap)
            left = max(0, math.ceil(share - (consumed - vm.consumed)))
            balloon_can = driver and state <= SOFT and vm.ballooned < cap
            swap_share = left if state >= HARD or (state == SOFT and not balloon_can) else 0
            vm.balloon_target = target
            vm.swap_target = vm.swapped + vm.compressed + max(over_limit, swap_share)
            if swap_share:
                self._swap_out(vm, swap_share, None, share_zero=True)
            over_limit = max(0, vm.granted - vm.cap)
            if over_limit:
                vm.reclaim_pages(vm.take_random(over_limit, allow_shared=True))
        self.update_state()

    def _inflate(self, vm: RunningVM, n: int) -> None:
        if n > 0:
            vm.to_balloon(vm.guest.balloon_inflate(n))

    def _deflate(self, vm: RunningVM, n: int) -> None:
        if n > 0:
            vm.from_balloon(vm.guest.balloon_deflate(n))

    # ------------------------------------------------------------------ the guest touches

    def touch_reclaimed(self, vm: RunningVM, seconds: float) -> None:
        """Swapped and compressed pages the guest reads in `seconds` come back (Waldspurger 2002,
        section 3.3: standard demand paging). Each page of a guest region is read with that
        region's chance; per region we draw the pages read either from the region's list or from
        the VM's slots, whichever is smaller, so the cost follows what is read, not what is held.
        """
        store = vm.store
        if not store.count or seconds <= 0:
            return
        chance = -np.expm1(-vm.guest.read_rates() * seconds)
        read = []
        for region in (chance > 0).nonzero()[0]:
            if not vm.slot_regions[region]:
                continue
            listed = vm.guest.lists[region]
            if len(listed) <= store.high:
                draws = int(self.rng.binomial(len(listed), chance[region]))
                pages = distinct(
                    listed.view()[self.rng.integers(0, len(listed), draws)], bound=vm.pages
                )
                pages = pages.compress(vm.pmap[pages] <= SLOT_BASE)
            else:
                draws = int(self.rng.binomial(store.high, chance[region]))
                pages = store.page[
                    distinct(self.rng.integers(0, store.high, draws), bound=store.high)
                ]
                pages = pages.compress(pages >= 0)
                pages = pages.compress(vm.guest.region[pages] == region)
            read.append(pages)
        if read:
            pages = np.concatenate(read)
            if pages.size:
                vm.fault_in(pages)

    # ------------------------------------------------------------------ room for the host itself

    def make_room(self, frames: int, exclude: RunningVM | None = None) -> bool:
        """Swap guest pages out until `frames` are free (e.g. a power-on's overhead). Checks
        first that it can, so a refusal changes nothing.
        """
        machine = self.machine
        if machine.free >= frames:
            return True
        others = [vm for vm in self.vms if vm is not exclude]
        possible = sum(max(0, min(vm.granted - vm.shared, vm.reclaimable)) for vm in others)
        if machine.free + possible < frames:
            return False
        for vm in sorted(others, key=lambda v: (v.entitlement - v.consumed, v.id)):
            missing = frames - machine.free
            if missing <= 0:
                break
            self._swap_out(vm, missing, None)
        self.update_state()
        return machine.free >= frames

    def to_state(self) -> dict:
        return {"state": self.state, "tree": self.tree.to_state(), "break_carry": self.break_carry}

    def restore(self, state: dict) -> None:
        self.state = state["state"]
        self.break_carry = state["break_carry"]
        self.tree = ResourceTree.from_state(state["tree"])


__all__ = ["CLEAR", "HARD", "HIGH", "LOW", "SOFT", "MemoryScheduler"]
