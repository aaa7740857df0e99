"""HostSim: one ESXi host's memory, simulated page by page. The engine's public interface
(DESIGN.md 7).

Time is simulated: `step(seconds)` advances every running guest, lets the memory scheduler divide
and reclaim memory (`memsched`) and, unless told not to, runs the page-sharing scan for that time.
All randomness comes from one generator seeded at creation, so the same seed, configuration and
calls give the same counters, and a snapshot restores bit for bit, generator included. Invalid
requests raise `EngineError` (a ValueError) and change nothing.

Memory may be overcommitted: VMs power on whatever their guests will touch (admission control is
the pools' business, DESIGN.md 5). The engine refuses only what cannot physically be: reservations
and overheads of running VMs that together exceed the host's memory beside the VMkernel's.
"""

import dataclasses
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from hostsim.engine import counters, memory_map, mmu
from hostsim.engine.active import SAMPLE_PAGES, SAMPLE_PERIOD_S
from hostsim.engine.advanced_settings import (
    SHARE_FORCE_SALTING,
    default_settings,
    scan_rates,
    sharing_domain_key,
    validate_settings,
)
from hostsim.engine.content import ContentSource
from hostsim.engine.entitlement import SHARES_PER_MB_NORMAL, ResourceTree
from hostsim.engine.errors import EngineError, InsufficientMemoryError
from hostsim.engine.free_memory import CLEAR
from hostsim.engine.grouping import distinct
from hostsim.engine.guest import FREE, GuestOS
from hostsim.engine.machine import (
    BALLOONED,
    FRAME,
    PAGE_SIZE_KB,
    PAGES_PER_MB,
    SLOT_BASE,
    MachineMemory,
    mb_to_pages,
)
from hostsim.engine.memsched import MemoryScheduler
from hostsim.engine.overhead import vm_overhead_pages, vmkernel_pages
from hostsim.engine.presets import GUEST_OS_PRESETS, WORKLOAD_PRESETS
from hostsim.engine.sharing import SharingDomain
from hostsim.engine.snapshot import pack, unpack
from hostsim.engine.vmm import RunningVM

STEP_S = 20  # workloads advance in steps of at most the real-time sample interval (ESXi: 20 s)
FULL_SCAN_BATCH_PAGES = 1 << 20  # pages per batch in share_scan_full: bounds temporary arrays
SCAN_THREADS = os.cpu_count() or 1  # threads for share_scan_full
MIN_HOST_MB = 64
MAX_HOST_MB = int(FRAME) // PAGES_PER_MB  # frame numbers fit the pmap's frame bits (4 TiB)
MIN_VM_MB = 4  # vSphere's smallest VM memory size
MAX_VM_MB = 6 * 1024 * 1024  # vSphere 7's largest VM memory size (6 TB)
MAX_VCPUS = 768  # vSphere 8 maximum
MAX_NAME = 80
MAX_SALT = 64
SNAPSHOT_VERSION = 4  # 3: guest processes, page tables, frame owners (issue 11); 4: large pages
UNLIMITED = -1


@dataclass(frozen=True)
class VMConfig:
    """A VM's configuration, as in its .vmx: memory, vCPUs, guest OS, what it runs, MMU, sharing,
    its memory resource allocation (reservation, limit, shares) and whether VMware Tools' balloon
    driver runs in it.
    """

    name: str
    memory_mb: int
    vcpus: int
    guest_os: str
    workload: str
    mmu: str = mmu.AUTOMATIC  # "CPU/MMU virtualization": automatic, software or hardware
    pshare: bool = True  # sched.mem.pshare.enable
    salt: str | None = None  # sched.mem.pshare.salt
    reservation_mb: int = 0  # sched.mem.min
    limit_mb: int = UNLIMITED  # sched.mem.max; -1: unlimited
    shares: int | None = None  # sched.mem.shares; None: normal, 10 per configured MB
    balloon: bool = True  # the balloon driver (VMware Tools' vmmemctl) runs in the guest

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > MAX_NAME:
            raise EngineError(f"A VM name is 1 to {MAX_NAME} characters, not {self.name!r}.")
        if not _is_int(self.memory_mb) or not MIN_VM_MB <= self.memory_mb <= MAX_VM_MB:
            raise EngineError(
                f"memory_mb must be a whole number of MB from {MIN_VM_MB} to {MAX_VM_MB}; "
                f"got {self.memory_mb!r}."
            )
        if not _is_int(self.vcpus) or not 1 <= self.vcpus <= MAX_VCPUS:
            raise EngineError(
                f"vcpus must be a whole number from 1 to {MAX_VCPUS}; got {self.vcpus!r}."
            )
        if self.guest_os not in GUEST_OS_PRESETS:
            raise EngineError(
                f"Unknown guest_os {self.guest_os!r}; known: {', '.join(GUEST_OS_PRESETS)}."
            )
        if self.workload not in WORKLOAD_PRESETS:
            raise EngineError(
                f"Unknown workload {self.workload!r}; known: {', '.join(WORKLOAD_PRESETS)}."
            )
        if self.mmu not in mmu.MMU_MODES:
            raise EngineError(f"Unknown mmu mode {self.mmu!r}; known: {', '.join(mmu.MMU_MODES)}.")
        if not isinstance(self.pshare, bool):
            raise EngineError(f"pshare must be True or False, not {self.pshare!r}.")
        if self.salt is not None and (
            not isinstance(self.salt, str) or not self.salt or len(self.salt) > MAX_SALT
        ):
            raise EngineError(
                f"salt must be None or a string of 1 to {MAX_SALT} characters, not {self.salt!r}."
            )
        if not _is_int(self.reservation_mb) or not 0 <= self.reservation_mb <= self.memory_mb:
            raise EngineError(
                f"reservation_mb must be a whole number from 0 to the VM's {self.memory_mb} MB; "
                f"got {self.reservation_mb!r}."
            )
        if not _is_int(self.limit_mb) or (
            self.limit_mb != UNLIMITED and self.limit_mb < self.reservation_mb
        ):
            raise EngineError(
                f"limit_mb must be -1 (unlimited) or at least the reservation "
                f"({self.reservation_mb} MB); got {self.limit_mb!r}."
            )
        if self.shares is not None and (not _is_int(self.shares) or self.shares < 1):
            raise EngineError(
                f"shares must be None (normal) or a positive whole number; got {self.shares!r}."
            )
        if not isinstance(self.balloon, bool):
            raise EngineError(f"balloon must be True or False, not {self.balloon!r}.")


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _amount(value, what: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(value)
    ):
        raise EngineError(f"{what} must be a number, not {value!r}.")
    if value < 0:
        raise EngineError(f"{what} must not be negative; got {value}.")
    return float(value)


@dataclass
class _VMRecord:
    config: VMConfig
    vm: RunningVM | None = None  # its runtime state while powered on


class HostSim:
    def __init__(
        self,
        memory_mb: int,
        cpu_mhz: int,
        hardware_mmu: bool = True,
        settings: dict | None = None,
        seed: int = 0,
    ):
        if not _is_int(memory_mb) or not MIN_HOST_MB <= memory_mb <= MAX_HOST_MB:
            raise EngineError(
                f"memory_mb must be a whole number from {MIN_HOST_MB} to {MAX_HOST_MB}; "
                f"got {memory_mb!r}."
            )
        if not _is_int(cpu_mhz) or cpu_mhz < 1:
            raise EngineError(f"cpu_mhz must be a positive whole number; got {cpu_mhz!r}.")
        if not isinstance(hardware_mmu, bool):
            raise EngineError(f"hardware_mmu must be True or False, not {hardware_mmu!r}.")
        if not _is_int(seed) or seed < 0:
            raise EngineError(f"seed must be a non-negative whole number; got {seed!r}.")
        if settings is not None and not isinstance(settings, dict):
            raise EngineError("settings must be a dict of advanced settings.")
        self._settings = default_settings() | validate_settings(settings or {})
        self.memory_mb = int(memory_mb)
        self.cpu_mhz = int(cpu_mhz)
        self.hardware_mmu = hardware_mmu
        self.seed = int(seed)
        self._rng = np.random.Generator(np.random.PCG64(self.seed))
        self._machine = MachineMemory(mb_to_pages(self.memory_mb), self._rng)
        self._machine.reserved = vmkernel_pages(self.memory_mb)
        self._content = ContentSource()
        self._domains: dict[tuple, SharingDomain] = {}
        self._vms: dict[int, _VMRecord] = {}
        self._next_vm_id = 1
        self._clock = 0.0
        self._sched = MemoryScheduler(self._machine, self._settings, self.memory_mb, self._rng)

    # ------------------------------------------------------------------ inventory

    @property
    def clock(self) -> float:
        """Simulated seconds since the host was created."""
        return self._clock

    @property
    def settings(self) -> dict[str, int]:
        return dict(self._settings)

    def vm_ids(self) -> list[int]:
        return list(self._vms)

    def vm_config(self, vm: int) -> VMConfig:
        return self._record(vm).config

    def is_powered_on(self, vm: int) -> bool:
        return self._record(vm).vm is not None

    def add_vm(self, config: VMConfig) -> int:
        if not isinstance(config, VMConfig):
            raise EngineError("add_vm takes a VMConfig.")
        self._check_config(config)
        vm_id = self._next_vm_id
        self._next_vm_id += 1
        self._vms[vm_id] = _VMRecord(config)
        return vm_id

    def remove_vm(self, vm: int) -> None:
        """Forget the VM; a running one is powered off first, releasing its memory."""
        if self._record(vm).vm is not None:
            self.power_off(vm)
        del self._vms[vm]
        self._sched.tree.forget_vm(vm)

    def set_vm(self, vm: int, **changes) -> None:
        """Change a VM's configuration.

        memory_mb needs the VM powered off (as in vSphere). On a running VM: `workload` switches
        what the guest runs; `vcpus` resizes its overhead; `mmu` takes effect at once (a lab
        shortcut: vSphere wants a power cycle); `pshare` False gives its shared pages private
        copies and stops scanning it, True resumes scanning; `reservation_mb`, `limit_mb` and
        `shares` change what it is entitled to at once (vSphere reconfigures them live) and are
        enforced by the next step; `balloon` False stops the balloon driver, whose pages go back
        to the guest; `salt` and `guest_os` apply from the next power-on (the salt, like
        Mem.ShareForceSalting, is read when a VM powers on).
        """
        record = self._record(vm)
        unknown = set(changes) - {field.name for field in dataclasses.fields(VMConfig)}
        if unknown:
            raise EngineError(f"Unknown VM setting(s): {', '.join(sorted(unknown))}.")
        old = record.config
        new = dataclasses.replace(old, **changes)
        self._check_config(new)
        running = record.vm
        if running is not None:
            if new.memory_mb != old.memory_mb:
                raise EngineError("memory_mb can only change while the VM is powered off.")
            overhead = vm_overhead_pages(new.memory_mb, new.vcpus)
            reservation = mb_to_pages(new.reservation_mb)
            self._check_reservations(
                overhead - running.overhead_pages + reservation - running.reservation, new.name
            )
            needed = max(0, overhead - running.overhead_pages)
            if old.pshare and not new.pshare and running.domain is not None:
                needed += running.domain.unshare_cost(running)
            if not self._sched.make_room(needed, exclude=running):
                free = self._machine.free
                raise InsufficientMemoryError(
                    f"The change needs {needed * PAGE_SIZE_KB // 1024} MB more host memory; "
                    f"{free * PAGE_SIZE_KB // 1024} MB are free and no more can be reclaimed.",
                    requested_kb=needed * PAGE_SIZE_KB,
                    free_kb=free * PAGE_SIZE_KB,
                )
            if new.vcpus != old.vcpus:
                self._machine.reserved += overhead - running.overhead_pages
                running.overhead_pages = overhead
                running.guest.vcpus = new.vcpus
            if new.workload != old.workload:
                running.guest.set_workload(WORKLOAD_PRESETS[new.workload])
            running.mmu_mode = mmu.effective_mode(new.mmu, self.hardware_mmu)
            if not running.large_allowed:  # software MMU: its large pages are broken at once
                running.break_random_large(running.large_count, share=True)
            if old.pshare and not new.pshare and running.domain is not None:
                running.domain.unshare_vm(running)
                self._leave_domain(running)
            elif new.pshare and not old.pshare:
                self._join_domain(running)
            record.config = new
            changed = reservation != running.reservation
            self._apply_allocation(running, new, reservation_changed=changed)
            self._sched.balance()
            self._sched.update_state()
        record.config = new

    def set_settings(self, **settings) -> None:
        """Change advanced settings (dotted names, so pass them as **{"Mem.IdleTax": 50}). Scan
        rates follow from the next step, salting from each VM's next power-on, the memory
        settings at once: Mem.AllocGuestLargePage 0 breaks every large page now (our choice; ESXi
        applies it to memory allocated later, and the lab shows its effect without a power cycle).
        """
        self._settings |= validate_settings(settings)
        for vm in self._running():
            if vm.zip_room_kb() < 0:  # a smaller cache, or none: the excess goes to disk
                vm.evict_cache(-vm.zip_room_kb())
            if not vm.large_allowed:
                vm.break_random_large(vm.large_count, share=True)
        self._sched.balance()
        self._sched.update_state()

    def set_resource_tree(self, tree: dict) -> None:
        """The host's resource pools, as `pools` keeps them: the root pool as nested dicts
        {"name", "reservation_mb", "limit_mb", "shares", "expandable", "vms": [engine VM ids],
        "children": [...]}; VMs the tree does not name sit under the root. Entitlement follows
        at once.
        """
        self._sched.tree = ResourceTree.parse(tree, set(self._vms), self.memory_mb)
        self._sched.balance()

    def resource_tree(self) -> dict:
        """The tree as given (VMs not named in it are not listed)."""
        tree = self._sched.tree
        nodes: list[dict] = [
            {
                "name": pool.name,
                "reservation_mb": pool.reservation_mb,
                "limit_mb": pool.limit_mb,
                "shares": pool.shares,
                "expandable": pool.expandable,
                "vms": sorted(vm for vm, at in tree.vm_pool.items() if at == index),
                "children": [],
            }
            for index, pool in enumerate(tree.pools)
        ]
        for index, pool in enumerate(tree.pools[1:], start=1):
            nodes[pool.parent]["children"].append(nodes[index])
        return nodes[0]

    def _record(self, vm: int) -> _VMRecord:
        record = self._vms.get(vm) if _is_int(vm) else None
        if record is None:
            raise EngineError(f"No VM with id {vm!r} on this host.")
        return record

    def _check_config(self, config: VMConfig) -> None:
        if config.mmu == mmu.HARDWARE and not self.hardware_mmu:
            raise EngineError(
                "This host's CPU has no hardware MMU virtualization (EPT/RVI); use software or "
                "automatic."
            )
        if config.memory_mb > self.memory_mb:
            raise EngineError(
                f"memory_mb {config.memory_mb} exceeds the host's {self.memory_mb} MB."
            )

    def _check_reservations(self, more: int, name: str) -> None:
        """Refuse what cannot physically be: reservations and overheads beyond host memory."""
        machine = self._machine
        held = machine.reserved + sum(vm.reservation for vm in self._running())
        if more > 0 and held + more > machine.frames:
            unreserved = max(0, machine.frames - held)
            raise InsufficientMemoryError(
                f"{name} needs {more * PAGE_SIZE_KB // 1024} MB of reserved host memory "
                f"(overhead and reservation) and only {unreserved * PAGE_SIZE_KB // 1024} MB "
                f"are not reserved.",
                requested_kb=more * PAGE_SIZE_KB,
                free_kb=unreserved * PAGE_SIZE_KB,
            )

    def _apply_allocation(
        self, vm: RunningVM, config: VMConfig, reservation_changed: bool = True
    ) -> None:
        if reservation_changed:
            vm.set_reservation(mb_to_pages(config.reservation_mb))
        vm.limit = (
            vm.pages
            if config.limit_mb == UNLIMITED
            else min(vm.pages, mb_to_pages(config.limit_mb))
        )
        vm.shares = (
            config.shares if config.shares is not None else SHARES_PER_MB_NORMAL * config.memory_mb
        )
        vm.balloon_driver = config.balloon

    def _running(self) -> list[RunningVM]:
        return [record.vm for record in self._vms.values() if record.vm is not None]

    # ------------------------------------------------------------------ power

    def power_on(self, vm: int) -> None:
        """Boot the VM from nothing: no guest page is mapped until the guest touches it.

        Its overhead is reserved at once; on an overcommitted host other VMs' pages are swapped
        to make room for it. Refused only if its overhead and reservation cannot be reserved.
        """
        record = self._record(vm)
        if record.vm is not None:
            raise EngineError(f"VM {vm} is already powered on.")
        config = record.config
        overhead = vm_overhead_pages(config.memory_mb, config.vcpus)
        self._check_reservations(overhead + mb_to_pages(config.reservation_mb), config.name)
        if not self._sched.make_room(overhead):
            free = self._machine.free
            raise InsufficientMemoryError(
                f"Cannot power on {config.name}: it needs {overhead * PAGE_SIZE_KB // 1024} MB of "
                f"host memory for its overhead, {free * PAGE_SIZE_KB // 1024} MB are free and no "
                f"more can be reclaimed.",
                requested_kb=overhead * PAGE_SIZE_KB,
                free_kb=free * PAGE_SIZE_KB,
            )
        running = RunningVM(
            vm,
            mb_to_pages(config.memory_mb),
            self._machine,
            self._rng,
            self._content,
            self._settings,
        )
        running.scheduler = self._sched
        running.overhead_pages = overhead
        running.window_began = self._clock
        self._machine.reserved += overhead
        self._apply_allocation(running, config)
        running.guest = GuestOS(
            running.pages,
            config.vcpus,
            GUEST_OS_PRESETS[config.guest_os],
            WORKLOAD_PRESETS[config.workload],
            running,
        )
        running.mmu_mode = mmu.effective_mode(config.mmu, self.hardware_mmu)
        running.mmu_activity = running.guest.mmu_activity(0.0)
        used_slots = {other.slot for other in self._running()}
        running.slot = next(
            slot for slot in range(1, len(used_slots) + 2) if slot not in used_slots
        )
        running.domain_key = sharing_domain_key(
            vm, config.salt, self._settings[SHARE_FORCE_SALTING]
        )
        if config.pshare:
            self._join_domain(running)
        running.active.begin_period(*running.guest.sample(self._rng, SAMPLE_PAGES))
        record.vm = running
        self._sched.vms = self._running()
        self._sched.balance()
        self._sched.update_state()

    def power_off(self, vm: int) -> None:
        """Release every frame of the VM (and its references to shared frames); Granted drops to
        0."""
        record = self._record(vm)
        running = record.vm
        if running is None:
            raise EngineError(f"VM {vm} is already powered off.")
        running.release_all()
        if running.domain is not None:
            self._leave_domain(running)
        self._machine.reserved -= running.overhead_pages
        record.vm = None
        self._sched.vms = self._running()
        self._sched.balance()
        self._sched.update_state()

    def _join_domain(self, vm: RunningVM) -> None:
        domain = self._domains.get(vm.domain_key)
        if domain is None:
            domain = self._domains[vm.domain_key] = SharingDomain(vm.domain_key, self._machine)
        vm.share_col = domain.join(vm)
        vm.domain = domain

    def _leave_domain(self, vm: RunningVM) -> None:
        domain = vm.sharing
        domain.leave(vm)
        vm.domain, vm.share_col = None, -1
        if not domain.members:
            del self._domains[domain.key]

    # ------------------------------------------------------------------ the guest

    def _guest(self, vm: int) -> RunningVM:
        running = self._record(vm).vm
        if running is None:
            raise EngineError(f"VM {vm} is powered off; its guest is not running.")
        return running

    def guest_allocate(self, vm: int, mb: float, touch: bool = True) -> float:
        """The toucher process allocates `mb` of new memory by syscall and touches it; returns
        the MB it got.

        The guest gets less only if the guest OS itself runs out of memory (its free list and
        page cache); the host backs every page it touches, swapping if it must. With `touch`
        False the syscall only reserves virtual memory (returns the MB reserved); the process
        touches it page by page as it runs (guest.TOUCHER_TOUCH_MB_PER_S per vCPU), so the map
        shows virtual memory first and resident memory following.
        """
        if not isinstance(touch, bool):
            raise EngineError(f"touch must be True or False, not {touch!r}.")
        pages = mb_to_pages(_amount(mb, "mb"))
        got = self._guest(vm).guest.toucher_allocate(pages, touch) / PAGES_PER_MB
        self._sched.update_state()
        return got

    def guest_free(self, vm: int, mb: float) -> float:
        """The process frees `mb` (at most what it holds) to the guest's free list; frames stay
        mapped."""
        pages = mb_to_pages(_amount(mb, "mb"))
        return self._guest(vm).guest.toucher_free(pages) / PAGES_PER_MB

    def guest_write(self, vm: int, fraction: float) -> float:
        """The process rewrites `fraction` (0..1) of what it holds with new data; returns the MB
        written."""
        fraction = _amount(fraction, "fraction")
        if fraction > 1:
            raise EngineError(f"fraction must be between 0 and 1; got {fraction}.")
        written = self._guest(vm).guest.toucher_write(fraction) / PAGES_PER_MB
        self._sched.update_state()
        return written

    # ------------------------------------------------------------------ time

    def step(self, seconds: float, scan: bool = True) -> None:
        """Advance simulated time: guests boot and run their workloads, memory is divided and
        reclaimed; with `scan`, pages get shared.
        """
        end = self._clock + _amount(seconds, "seconds")
        sched = self._sched
        while self._clock < end:
            boundary = (math.floor(self._clock / STEP_S + 1e-9) + 1) * STEP_S
            reached = min(boundary, end)
            start, dt = self._clock, reached - self._clock
            running = self._running()
            for vm in running:
                vm.guest.advance(dt)
                vm.active.accrue(vm.guest.read_rates(), dt)
                vm.mmu_activity = vm.guest.mmu_activity(dt)
            for vm in running:
                sched.touch_reclaimed(vm, dt)
            self._clock = reached
            if reached == boundary and boundary % SAMPLE_PERIOD_S == 0:
                for vm in running:
                    vm.active.end_period(self._rng)
                    vm.active.begin_period(*vm.guest.sample(self._rng, SAMPLE_PAGES))
            sched.update_state()
            if sched.balance_due(start, reached):
                sched.balance()
            sched.break_large_pages(dt, share=scan)
            sched.reclaim(dt)
            if scan:
                self._scan(dt)
                sched.update_state()
            if reached == boundary:
                for vm in running:
                    vm.end_interval(reached)

    def share_scan(self, seconds: float) -> None:
        """Run the sharing scan for the page budget the TPS settings allow in `seconds` (the clock
        stays)."""
        self._scan(_amount(seconds, "seconds"))
        self._sched.update_state()

    def share_scan_full(self) -> int:
        """Scan every page of every VM with page sharing on, once; returns the pages visited.

        VMs that share only inside themselves (their own sharing domain) touch disjoint state, so
        they are scanned on several threads (numpy releases the GIL in the bulk work); the frames
        they free are handed back to the host in VM order afterwards, so the result does not
        depend on thread timing. VMs in shared domains are scanned one after the other.
        """
        scanned = [vm for vm in self._running() if vm.domain is not None]
        alone = [vm for vm in scanned if not vm.sharing.group]
        with ThreadPoolExecutor(max_workers=max(1, min(SCAN_THREADS, len(alone)))) as pool:
            results = list(pool.map(_share_all_pages, alone))
        for redundant, newly_shared in results:
            for frames in redundant:
                self._machine.release(frames)
            self._machine.shared_frames += newly_shared
        for vm in scanned:
            if vm.sharing.group:
                redundant, newly_shared = _share_all_pages(vm)
                for frames in redundant:
                    self._machine.release(frames)
                self._machine.shared_frames += newly_shared
        self._sched.update_state()
        return sum(vm.pages for vm in scanned)

    def _scan(self, seconds: float) -> None:
        scanned = [vm for vm in self._running() if vm.domain is not None]
        if not scanned or not seconds:
            return
        rates = scan_rates(
            {vm.id: vm.pages for vm in scanned},
            self._settings,
            self.cpu_mhz,
            eager=self._sched.state >= CLEAR,
        )
        batches: dict[SharingDomain, list] = {}  # each domain's pages, scanned as one batch
        for vm in scanned:
            cursor = vm.cursor
            cursor.carry += rates[vm.id] * seconds
            due = int(cursor.carry)
            cursor.carry -= due
            taken = cursor.take(due, self._rng)
            if not taken:
                continue
            # A new pass may begin within the step and revisit pages of the old one: once is enough
            # (the second visit would find them listed).
            pages = taken[0] if len(taken) == 1 else distinct(np.concatenate(taken))
            batches.setdefault(vm.sharing, []).append((vm, pages, None))
        for domain, batch in batches.items():
            domain.scan_many(batch)

    # ------------------------------------------------------------------ observation

    def vm_counters(self, vm: int) -> dict:
        return counters.vm_counters(self._record(vm).vm)

    def host_counters(self) -> dict:
        return counters.host_counters(self._machine, self._running(), self._sched, self.memory_mb)

    def esxtop(self) -> dict:
        return counters.esxtop(
            self._machine,
            [
                (record.config.name, record.vm)
                for record in self._vms.values()
                if record.vm is not None
            ],
            self._sched,
        )

    def guest_view(self, vm: int) -> dict:
        """What the guest OS believes, in KB: total, used (its allocated lists, the balloon
        driver's pages included), free (free list), who holds what; and, under "held", how the
        hypervisor holds the pages the guest uses: mapped, ballooned, swapped or compressed.
        Together they are exactly its used memory: no page the guest uses is lost.
        """
        record = self._record(vm)
        if record.vm is None:
            return {
                "powered_on": False,
                "os": record.config.guest_os,
                "workload": record.config.workload,
                "booted": False,
                "uptime": 0.0,
                "total": record.config.memory_mb * 1024,
                "used": 0,
                "free": 0,
                "kernel": 0,
                "page_cache": 0,
                "balloon": 0,
                "paged_out": 0,
                "processes": [],
                "held": {"mapped": 0, "ballooned": 0, "swapped": 0, "compressed": 0},
            }
        running = record.vm
        used = np.concatenate(
            [pages.view() for region, pages in enumerate(running.guest.lists) if region != FREE]
        )
        entries = running.pmap[used]
        outside = entries <= SLOT_BASE
        zipped = running.store.zip_kb[SLOT_BASE - entries.compress(outside)] > 0
        held = {
            "mapped": int(np.count_nonzero(entries >= 0)) * PAGE_SIZE_KB,
            "ballooned": int(np.count_nonzero(entries == BALLOONED)) * PAGE_SIZE_KB,
            "swapped": int(np.count_nonzero(~zipped)) * PAGE_SIZE_KB,
            "compressed": int(np.count_nonzero(zipped)) * PAGE_SIZE_KB,
        }
        return {"powered_on": True} | running.guest.view() | {"held": held}

    def processes(self, vm: int) -> list[dict]:
        """The guest's processes: pid, name, virtual and resident KB, and their areas (name,
        first virtual page, pages, resident pages, whether it maps its parent's area).
        """
        listed = self._guest(vm).guest.process_list()
        for process in listed:
            process["virtual"] *= PAGE_SIZE_KB
            process["resident"] *= PAGE_SIZE_KB
        return listed

    def mmu(self, vm: int) -> dict:
        """The MMU panel: the mode the VM runs in, what the MMU saw over the last step, and what
        it costs in this mode and would cost in the other for the same activity (per VM: rates
        over all vCPUs). `other` is None where the host has no hardware MMU.
        """
        running = self._guest(vm)
        activity = running.mmu_activity
        vcpus = running.guest.vcpus
        software = running.mmu_mode == mmu.SOFTWARE

        def per_vm(mode: str) -> dict:
            cost = mmu.cost(mode, activity, running.large_fraction)
            for rate in ("syncs_per_s", "traps_per_s", "tlb_misses_per_s"):
                cost[rate] = round(cost[rate] * vcpus)
            cost["overhead_percent"] = round(cost["overhead_percent"], 2)
            cost["shadow_entries"] = running.guest.spaces.resident if mode == mmu.SOFTWARE else 0
            return cost

        other = mmu.HARDWARE if software else mmu.SOFTWARE
        spaces = running.guest.spaces
        return {
            "mode": running.mmu_mode,
            "requested": self._record(vm).config.mmu,
            "host_hardware_mmu": self.hardware_mmu,
            "vcpus": vcpus,
            "page_table_updates_per_s": round(activity.pt_updates * vcpus),
            "context_switches_per_s": round(activity.context_switches * vcpus),
            "working_set_pages": activity.working_set,
            "tlb_entries": mmu.TLB_ENTRIES,
            "tlb_reach_kb": mmu.TLB_ENTRIES * PAGE_SIZE_KB,
            "current": per_vm(running.mmu_mode),
            "other": per_vm(other) if other == mmu.SOFTWARE or self.hardware_mmu else None,
            "shadow_tables": [
                {
                    "pid": process.pid,
                    "name": process.name,
                    "entries": spaces.resident_of(process) if software else 0,
                }
                for process in spaces.processes.values()
            ],
        }

    def memory_map(self, vm: int, cells: int = 1024) -> dict:
        """The VM's guest physical memory in `cells` equal runs: per run the pages in each state
        (untouched, guest_free, private, shared, zero, ballooned, swapped, compressed, large) and
        the owner of most of them (free, kernel, page cache, balloon, or a process "name (pid)").
        The counts add up to the VM's counters (`memory_map`).
        """
        cells = memory_map.check_cells(cells)
        result = memory_map.vm_memory_map(self._guest(vm), cells)
        return {"vm": vm, "name": self._record(vm).config.name} | result

    def host_memory_map(self, cells: int = 1024) -> dict:
        """Machine memory in `cells` equal runs: per run the frames that are free, VMkernel's,
        VM overhead, compression caches, shared, and each running VM's (keyed by VM id), and the
        owner of most of them; and, per run and in all (`large`), the VMs' frames among them that
        back 2 MB large pages.
        """
        cells = memory_map.check_cells(cells)
        names = {vm_id: record.config.name for vm_id, record in self._vms.items()}
        return memory_map.host_memory_map(self._machine, self._running(), names, cells)

    def trace_pages(self, vm: int, n: int = 8, process: int | str | None = None) -> dict:
        """Follow `n` sampled virtual pages of a process (pid or name; None: the workload's main
        process, else the toucher) through the layers: virtual page -> guest physical page (the
        guest page table) -> machine frame (the pmap), with the other guest pages, of any VM,
        mapping the same frame, and whether a shadow entry (software MMU) and the TLB model hold
        it. Resident pages are sampled first. The same state gives the same sample.
        """
        running = self._guest(vm)
        guest = running.guest
        chosen = self._find_process(guest, process)
        others = [
            other
            for other in self._running()
            if other is not running and other.domain is not None and other.domain is running.domain
        ]
        seed = [self.seed, vm, chosen.pid, int(self._clock)]
        return {"vm": vm, "mode": running.mmu_mode} | memory_map.trace_pages(
            running, others, chosen, n, seed
        )

    @staticmethod
    def _find_process(guest: GuestOS, process):
        if process is None:
            return guest.app if guest.app is not None else guest.toucher
        processes = guest.spaces.processes
        if _is_int(process) and process in processes:
            return processes[process]
        if isinstance(process, str):
            for candidate in processes.values():
                if candidate.name == process:
                    return candidate
        names = ", ".join(f"{p.name} ({p.pid})" for p in processes.values())
        raise EngineError(f"No process {process!r} in this guest; it runs: {names}.")

    def entitlement_mb(self, vm: int) -> float:
        """The memory the VM is entitled to now (0 while powered off)."""
        running = self._record(vm).vm
        return 0.0 if running is None else running.entitlement / PAGES_PER_MB

    def memory_footprint(self) -> dict[str, int]:
        """Bytes of engine state (numpy arrays), by part; for the benchmark's bytes-per-guest-page
        figure."""
        machine = self._machine.nbytes
        vms = sum(vm.nbytes for vm in self._running())
        sharing = sum(domain.nbytes for domain in self._domains.values())
        return {
            "machine": machine,
            "vms": vms,
            "sharing": sharing,
            "total": machine + vms + sharing,
        }

    def audit(self) -> None:
        """Recompute everything from the page tables and compare (O(memory): tests and diagnostics
        only).

        Raises EngineInvariantError describing the first inconsistency found.
        """
        from hostsim.engine.audit import audit_host

        audit_host(self._machine, self._running(), self._domains, self._sched, self.memory_mb)

    # ------------------------------------------------------------------ snapshot

    def snapshot(self) -> bytes:
        return pack(
            {
                "version": SNAPSHOT_VERSION,
                "memory_mb": self.memory_mb,
                "cpu_mhz": self.cpu_mhz,
                "hardware_mmu": self.hardware_mmu,
                "seed": self.seed,
                "settings": self._settings,
                "clock": self._clock,
                "next_vm_id": self._next_vm_id,
                "rng": self._rng.bit_generator.state,
                "next_unique": self._content.next_unique,
                "machine": self._machine.to_state(),
                "scheduler": self._sched.to_state(),
                "vms": [
                    {
                        "id": vm_id,
                        "config": dataclasses.asdict(record.config),
                        "running": record.vm.to_state() if record.vm is not None else None,
                    }
                    for vm_id, record in self._vms.items()
                ],
                "domains": [domain.to_state() for domain in self._domains.values()],
            }
        )

    @classmethod
    def restore(cls, data: bytes) -> "HostSim":
        state = unpack(data)
        version = state.get("version") if isinstance(state, dict) else None
        if version != SNAPSHOT_VERSION:
            raise EngineError(
                f"Engine snapshot version {version} cannot be restored: this engine reads "
                f"version {SNAPSHOT_VERSION} only (guest processes and page tables came in 3, "
                f"large pages in 4)."
            )
        host = cls.__new__(cls)
        host.memory_mb = state["memory_mb"]
        host.cpu_mhz = state["cpu_mhz"]
        host.hardware_mmu = state["hardware_mmu"]
        host.seed = state["seed"]
        host._settings = dict(state["settings"])
        host._clock = state["clock"]
        host._next_vm_id = state["next_vm_id"]
        host._rng = np.random.Generator(np.random.PCG64())
        host._rng.bit_generator.state = state["rng"]
        host._content = ContentSource(state["next_unique"])
        host._machine = MachineMemory.from_state(state["machine"])
        host._sched = MemoryScheduler(host._machine, host._settings, host.memory_mb, host._rng)
        host._sched.restore(state["scheduler"])
        host._vms = {}
        running = {}
        for entry in state["vms"]:
            record = _VMRecord(VMConfig(**entry["config"]))
            if entry["running"] is not None:
                vm = RunningVM.from_state(
                    entry["id"],
                    entry["running"],
                    host._machine,
                    host._rng,
                    host._content,
                    host._settings,
                )
                vm.scheduler = host._sched
                record.vm = running[entry["id"]] = vm
            host._vms[entry["id"]] = record
        host._sched.vms = host._running()
        host._domains = {}
        for domain_state in state["domains"]:
            domain = SharingDomain.from_state(domain_state, host._machine, running)
            host._domains[domain.key] = domain
            for col, vm in domain.members.items():
                vm.domain, vm.share_col = domain, col
        return host


def _share_all_pages(vm: RunningVM) -> tuple[list[np.ndarray], int]:
    """One full pass over a VM's pages: the frames freed, and how many frames became shared."""
    redundant, newly_shared = [], 0
    for start in range(0, vm.pages, FULL_SCAN_BATCH_PAGES):
        stop = min(start + FULL_SCAN_BATCH_PAGES, vm.pages)
        frames, shared = vm.sharing.share(
            vm, np.arange(start, stop, dtype=np.int32), vm.pmap[start:stop].copy()
        )
        redundant.append(frames)
        newly_shared += shared
    return redundant, newly_shared
