"""HostSim: one ESXi host's memory, simulated page by page. The engine's public interface (DESIGN.md 7).

Time is simulated: `step(seconds)` advances every running guest and, unless told not to, runs the
page-sharing scan for that time. All randomness comes from one generator seeded at creation, so the
same seed, configuration and calls give the same counters, and a snapshot restores bit for bit,
generator included. Invalid requests raise `EngineError` (a ValueError) and change nothing.
"""

import dataclasses
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from hostsim.engine import counters, mmu
from hostsim.engine.active import SAMPLE_PAGES, SAMPLE_PERIOD_S, ActiveMemoryEstimator
from hostsim.engine.advanced_settings import (
    SHARE_FORCE_SALTING,
    default_settings,
    scan_rates,
    sharing_domain_key,
    validate_settings,
)
from hostsim.engine.content import ContentSource
from hostsim.engine.errors import EngineError, InsufficientMemoryError
from hostsim.engine.guest import GuestOS
from hostsim.engine.machine import FRAME, PAGE_SIZE_KB, PAGES_PER_MB, MachineMemory, mb_to_pages
from hostsim.engine.overhead import vm_overhead_pages, vmkernel_base_pages, vmkernel_per_vm_pages
from hostsim.engine.presets import GUEST_OS_PRESETS, WORKLOAD_PRESETS
from hostsim.engine.sharing import ScanCursor, SharingDomain
from hostsim.engine.snapshot import pack, unpack
from hostsim.engine.vmm import VirtualMachine

STEP_S = 20  # workloads advance in steps of at most the real-time sample interval (ESXi: 20 s)
FULL_SCAN_BATCH_PAGES = 1 << 20  # pages per batch in share_scan_full: bounds temporary arrays
SCAN_THREADS = os.cpu_count() or 1  # threads for share_scan_full
MIN_HOST_MB = 64
MAX_HOST_MB = int(FRAME) // PAGES_PER_MB  # frame numbers fit the pmap's frame bits (4 TiB)
MIN_VM_MB = 4  # vSphere's smallest VM memory size
MAX_VCPUS = 768  # vSphere 8 maximum
MAX_NAME = 80
MAX_SALT = 64
SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class VMConfig:
    """A VM's configuration, as in its .vmx: memory, vCPUs, guest OS, what it runs, MMU, sharing."""

    name: str
    memory_mb: int
    vcpus: int
    guest_os: str
    workload: str
    mmu: str = mmu.AUTOMATIC  # "CPU/MMU virtualization": automatic, software or hardware
    pshare: bool = True  # sched.mem.pshare.enable
    salt: str | None = None  # sched.mem.pshare.salt

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > MAX_NAME:
            raise EngineError(f"A VM name is 1 to {MAX_NAME} characters, not {self.name!r}.")
        if not _is_int(self.memory_mb) or self.memory_mb < MIN_VM_MB:
            raise EngineError(
                f"memory_mb must be a whole number of MB, at least {MIN_VM_MB}; got {self.memory_mb!r}."
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
    vm: VirtualMachine | None = None  # its runtime state while powered on


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
                f"memory_mb must be a whole number from {MIN_HOST_MB} to {MAX_HOST_MB}; got {memory_mb!r}."
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
        self._machine.reserved = vmkernel_base_pages(self.memory_mb)
        self._content = ContentSource()
        self._domains: dict[tuple, SharingDomain] = {}
        self._vms: dict[int, _VMRecord] = {}
        self._next_vm_id = 1
        self._clock = 0.0

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

    def set_vm(self, vm: int, **changes) -> None:
        """Change a VM's configuration.

        memory_mb needs the VM powered off (as in vSphere). On a running VM: `workload` switches
        what the guest runs; `vcpus` resizes its overhead; `mmu` takes effect at once (a lab
        shortcut: vSphere wants a power cycle); `pshare` False gives its shared pages private
        copies and stops scanning it, True resumes scanning; `salt` and `guest_os` apply from the
        next power-on (the salt, like Mem.ShareForceSalting, is read when a VM powers on).
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
            needed = 0
            if new.vcpus != old.vcpus:
                needed += vm_overhead_pages(new.memory_mb, new.vcpus) - running.overhead_pages
            if old.pshare and not new.pshare and running.domain is not None:
                needed += running.domain.unshare_cost(running)
            if needed > self._machine.free:
                raise InsufficientMemoryError(
                    f"The change needs {needed * PAGE_SIZE_KB // 1024} MB more host memory; "
                    f"{self._machine.free * PAGE_SIZE_KB // 1024} MB are free.",
                    requested_kb=needed * PAGE_SIZE_KB,
                    free_kb=self._machine.free * PAGE_SIZE_KB,
                )
            if new.vcpus != old.vcpus:
                overhead = vm_overhead_pages(new.memory_mb, new.vcpus)
                self._machine.reserved += overhead - running.overhead_pages
                running.overhead_pages = overhead
                running.guest.vcpus = new.vcpus
            if new.workload != old.workload:
                running.guest.set_workload(WORKLOAD_PRESETS[new.workload])
            running.mmu_mode = mmu.effective_mode(new.mmu, self.hardware_mmu)
            if old.pshare and not new.pshare and running.domain is not None:
                running.domain.unshare_vm(running)
                self._leave_domain(running)
            elif new.pshare and not old.pshare:
                self._join_domain(running)
        record.config = new

    def set_settings(self, **settings) -> None:
        """Change TPS advanced settings; scan rates follow from the next step, salting from each VM's next power-on."""
        self._settings |= validate_settings(settings)

    def _record(self, vm: int) -> _VMRecord:
        record = self._vms.get(vm) if _is_int(vm) else None
        if record is None:
            raise EngineError(f"No VM with id {vm!r} on this host.")
        return record

    def _check_config(self, config: VMConfig) -> None:
        if config.mmu == mmu.HARDWARE and not self.hardware_mmu:
            raise EngineError(
                "This host's CPU has no hardware MMU virtualization (EPT/RVI); use software or automatic."
            )
        if config.memory_mb > self.memory_mb:
            raise EngineError(
                f"memory_mb {config.memory_mb} exceeds the host's {self.memory_mb} MB."
            )

    def _running(self) -> list[VirtualMachine]:
        return [record.vm for record in self._vms.values() if record.vm is not None]

    # ------------------------------------------------------------------ power

    def power_on(self, vm: int) -> None:
        """Boot the VM from nothing: no guest page is mapped until the guest touches it."""
        record = self._record(vm)
        if record.vm is not None:
            raise EngineError(f"VM {vm} is already powered on.")
        config = record.config
        overhead = vm_overhead_pages(config.memory_mb, config.vcpus)
        reserved = overhead + vmkernel_per_vm_pages()
        if reserved > self._machine.free:
            raise InsufficientMemoryError(
                f"Cannot power on {config.name}: it needs {reserved * PAGE_SIZE_KB // 1024} MB of host memory "
                f"for its overhead and the host has {self._machine.free * PAGE_SIZE_KB // 1024} MB free.",
                requested_kb=reserved * PAGE_SIZE_KB,
                free_kb=self._machine.free * PAGE_SIZE_KB,
            )
        running = VirtualMachine(
            vm, mb_to_pages(config.memory_mb), self._machine, self._rng, self._content
        )
        running.overhead_pages = overhead
        self._machine.reserved += reserved
        running.guest = GuestOS(
            running.pages,
            config.vcpus,
            GUEST_OS_PRESETS[config.guest_os],
            WORKLOAD_PRESETS[config.workload],
            running,
        )
        running.mmu_mode = mmu.effective_mode(config.mmu, self.hardware_mmu)
        running.mmu_rates = running.guest.mmu_activity()
        running.domain_key = sharing_domain_key(
            vm, config.salt, self._settings[SHARE_FORCE_SALTING]
        )
        if config.pshare:
            self._join_domain(running)
        running.active.begin_period(*running.guest.sample(self._rng, SAMPLE_PAGES))
        record.vm = running

    def power_off(self, vm: int) -> None:
        """Release every frame of the VM (and its references to shared frames); Granted drops to 0."""
        record = self._record(vm)
        running = record.vm
        if running is None:
            raise EngineError(f"VM {vm} is already powered off.")
        running.release_all()
        if running.domain is not None:
            self._leave_domain(running)
        self._machine.reserved -= running.overhead_pages + vmkernel_per_vm_pages()
        record.vm = None

    def _join_domain(self, vm: VirtualMachine) -> None:
        domain = self._domains.get(vm.domain_key)
        if domain is None:
            domain = self._domains[vm.domain_key] = SharingDomain(vm.domain_key, self._machine)
        vm.share_col = domain.join(vm)
        vm.domain = domain

    def _leave_domain(self, vm: VirtualMachine) -> None:
        domain = vm.domain
        domain.leave(vm)
        vm.domain, vm.share_col = None, -1
        if not domain.members:
            del self._domains[domain.key]

    # ------------------------------------------------------------------ the guest

    def _guest(self, vm: int) -> VirtualMachine:
        running = self._record(vm).vm
        if running is None:
            raise EngineError(f"VM {vm} is powered off; its guest is not running.")
        return running

    def guest_allocate(self, vm: int, mb: float) -> float:
        """A guest process allocates and touches `mb` of new memory; returns the MB it got."""
        pages = mb_to_pages(_amount(mb, "mb"))
        return self._guest(vm).guest.toucher_allocate(pages) / PAGES_PER_MB

    def guest_free(self, vm: int, mb: float) -> float:
        """The process frees `mb` (at most what it holds) to the guest's free list; frames stay mapped."""
        pages = mb_to_pages(_amount(mb, "mb"))
        return self._guest(vm).guest.toucher_free(pages) / PAGES_PER_MB

    def guest_write(self, vm: int, fraction: float) -> float:
        """The process rewrites `fraction` (0..1) of what it holds with new data; returns the MB written."""
        fraction = _amount(fraction, "fraction")
        if fraction > 1:
            raise EngineError(f"fraction must be between 0 and 1; got {fraction}.")
        return self._guest(vm).guest.toucher_write(fraction) / PAGES_PER_MB

    # ------------------------------------------------------------------ time

    def step(self, seconds: float, scan: bool = True) -> None:
        """Advance simulated time: guests boot and run their workloads; with `scan`, pages get shared."""
        end = self._clock + _amount(seconds, "seconds")
        while self._clock < end:
            boundary = (math.floor(self._clock / STEP_S + 1e-9) + 1) * STEP_S
            reached = min(boundary, end)
            dt = reached - self._clock
            for vm in self._running():
                vm.guest.advance(dt)
                vm.active.accrue(vm.guest.read_rates(), dt)
                vm.mmu_rates = vm.guest.mmu_activity()
            self._clock = reached
            if reached == boundary and boundary % SAMPLE_PERIOD_S == 0:
                for vm in self._running():
                    vm.active.end_period(self._rng)
                    vm.active.begin_period(*vm.guest.sample(self._rng, SAMPLE_PAGES))
            if scan:
                self._scan(dt)

    def share_scan(self, seconds: float) -> None:
        """Run the sharing scan for the page budget the TPS settings allow in `seconds` (the clock stays)."""
        self._scan(_amount(seconds, "seconds"))

    def share_scan_full(self) -> int:
        """Scan every page of every VM with page sharing on, once; returns the pages visited.

        VMs that share only inside themselves (their own sharing domain) touch disjoint state, so
        they are scanned on several threads (numpy releases the GIL in the bulk work); the frames
        they free are handed back to the host in VM order afterwards, so the result does not
        depend on thread timing. VMs in shared domains are scanned one after the other.
        """
        scanned = [vm for vm in self._running() if vm.domain is not None]
        alone = [vm for vm in scanned if not vm.domain.group]
        with ThreadPoolExecutor(max_workers=max(1, min(SCAN_THREADS, len(alone)))) as pool:
            results = list(pool.map(_share_all_pages, alone))
        for redundant, newly_shared in results:
            for frames in redundant:
                self._machine.release(frames)
            self._machine.shared_frames += newly_shared
        for vm in scanned:
            if vm.domain.group:
                redundant, newly_shared = _share_all_pages(vm)
                for frames in redundant:
                    self._machine.release(frames)
                self._machine.shared_frames += newly_shared
        return sum(vm.pages for vm in scanned)

    def _scan(self, seconds: float) -> None:
        scanned = [vm for vm in self._running() if vm.domain is not None]
        if not scanned or not seconds:
            return
        rates = scan_rates({vm.id: vm.pages for vm in scanned}, self._settings, self.cpu_mhz)
        for vm in scanned:
            cursor = vm.cursor
            cursor.carry += rates[vm.id] * seconds
            due = int(cursor.carry)
            cursor.carry -= due
            for pages in cursor.take(due, self._rng):
                vm.domain.scan(vm, pages)

    # ------------------------------------------------------------------ observation

    def vm_counters(self, vm: int) -> dict:
        return counters.vm_counters(self._record(vm).vm)

    def host_counters(self) -> dict:
        return counters.host_counters(self._machine, self._running())

    def esxtop(self) -> dict:
        return counters.esxtop(
            self._machine,
            [
                (record.config.name, record.vm)
                for record in self._vms.values()
                if record.vm is not None
            ],
        )

    def guest_view(self, vm: int) -> dict:
        """What the guest OS believes, in KB: total, used (allocated list), free (free list), and who holds what."""
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
                "processes": [],
            }
        return {"powered_on": True} | record.vm.guest.view()

    def memory_footprint(self) -> dict[str, int]:
        """Bytes of engine state (numpy arrays), by part; for the benchmark's bytes-per-guest-page figure."""
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
        """Recompute everything from the page tables and compare (O(memory): tests and diagnostics only).

        Raises EngineInvariantError describing the first inconsistency found.
        """
        from hostsim.engine.audit import audit_host

        audit_host(self._machine, self._running(), self._domains)

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
                "vms": [
                    {
                        "id": vm_id,
                        "config": dataclasses.asdict(record.config),
                        "running": _vm_state(record.vm),
                    }
                    for vm_id, record in self._vms.items()
                ],
                "domains": [domain.to_state() for domain in self._domains.values()],
            }
        )

    @classmethod
    def restore(cls, data: bytes) -> "HostSim":
        state = unpack(data)
        if not isinstance(state, dict) or state.get("version") != SNAPSHOT_VERSION:
            raise EngineError("Unsupported engine snapshot version.")
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
        host._vms = {}
        running = {}
        for entry in state["vms"]:
            record = _VMRecord(VMConfig(**entry["config"]))
            if entry["running"] is not None:
                record.vm = running[entry["id"]] = _vm_from_state(
                    entry["id"], entry["running"], host
                )
            host._vms[entry["id"]] = record
        host._domains = {}
        for domain_state in state["domains"]:
            domain = SharingDomain.from_state(domain_state, host._machine, running)
            host._domains[domain.key] = domain
            for col, vm in domain.members.items():
                vm.domain, vm.share_col = domain, col
        return host


def _share_all_pages(vm: VirtualMachine) -> tuple[list[np.ndarray], int]:
    """One full pass over a VM's pages: the frames freed, and how many frames became shared."""
    redundant, newly_shared = [], 0
    for start in range(0, vm.pages, FULL_SCAN_BATCH_PAGES):
        stop = min(start + FULL_SCAN_BATCH_PAGES, vm.pages)
        frames, shared = vm.domain.share(
            vm, np.arange(start, stop, dtype=np.int32), vm.pmap[start:stop].copy()
        )
        redundant.append(frames)
        newly_shared += shared
    return redundant, newly_shared


def _vm_state(vm: VirtualMachine | None) -> dict | None:
    if vm is None:
        return None
    return {
        "pages": vm.pages,
        "pmap": vm.pmap,
        "granted": vm.granted,
        "shared": vm.shared,
        "zero": vm.zero,
        "consumed": vm.consumed,
        "overhead_pages": vm.overhead_pages,
        "domain_key": list(vm.domain_key),
        "guest": vm.guest.to_state(),
        "active": vm.active.to_state(),
        "cursor": vm.cursor.to_state(),
        "mmu_mode": vm.mmu_mode,
        "mmu_rates": list(vm.mmu_rates),
    }


def _vm_from_state(vm_id: int, state: dict, host: HostSim) -> VirtualMachine:
    vm = VirtualMachine.__new__(VirtualMachine)
    vm.id = vm_id
    vm.pages = state["pages"]
    vm.machine = host._machine
    vm.rng = host._rng
    vm.content = host._content
    vm.pmap = state["pmap"]
    vm.granted = state["granted"]
    vm.shared = state["shared"]
    vm.zero = state["zero"]
    vm.consumed = state["consumed"]
    vm.overhead_pages = state["overhead_pages"]
    vm.domain_key = tuple(state["domain_key"])
    vm.domain, vm.share_col = None, -1
    vm.guest = GuestOS.from_state(state["guest"], vm)
    vm.active = ActiveMemoryEstimator.from_state(state["active"])
    vm.cursor = ScanCursor.from_state(state["cursor"], vm.pages)
    vm.mmu_mode = state["mmu_mode"]
    vm.mmu_rates = tuple(state["mmu_rates"])
    return vm
