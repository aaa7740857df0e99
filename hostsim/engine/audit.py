"""A from-scratch check of the engine's bookkeeping against its page tables (`HostSim.audit`).

Walks every frame and every pmap, so it costs O(memory): for tests and diagnostics, never per tick.
"""

import numpy as np

from hostsim.engine import counters
from hostsim.engine.errors import EngineInvariantError
from hostsim.engine.grouping import group_counts
from hostsim.engine.machine import PAGE_SIZE_KB, MachineMemory
from hostsim.engine.sharing import SharingDomain


def _check(condition, message: str) -> None:
    if not condition:
        raise EngineInvariantError(message)


def audit_host(machine: MachineMemory, vms: list, domains: dict[tuple, SharingDomain]) -> None:
    running = [(config, vm) for config, vm in vms if vm is not None]
    refcount = machine.refcount.astype(np.int64)

    # Frames: each reference count is the number of pmap entries pointing at the frame.
    mapped = [vm.pmap[vm.pmap >= 0] for _, vm in running]
    counted = np.bincount(np.concatenate(mapped) if mapped else np.zeros(0, np.int32), minlength=machine.frames)
    wrong = np.flatnonzero(counted != refcount)
    _check(not wrong.size, f"refcount of frame {wrong[:1]} is {refcount[wrong[:1]]}, pmaps point {counted[wrong[:1]]} times")
    _check(machine.in_use == np.count_nonzero(refcount >= 1), "frames in use miscounted")
    _check(machine.shared_frames == np.count_nonzero(refcount >= 2), "shared frames miscounted")
    _check(machine.in_use + machine.reserved <= machine.frames, "more machine memory in use than the host has")
    released = machine._released.view()
    _check(not np.any(refcount[released]), "a released frame is still mapped")
    _check(np.unique(released).size == released.size, "a frame was released twice")
    _check(released.size + machine.frames - machine._fresh_next == machine.frames - machine.in_use, "free frames lost")

    owner = np.full(machine.frames, -1, np.int64)  # some VM mapping each frame
    for _, vm in running:
        owner[vm.pmap[vm.pmap >= 0]] = vm.id
    for config, vm in running:
        frames = vm.pmap[vm.pmap >= 0]
        refs = refcount[frames]
        shared = refs >= 2
        _check(vm.granted == frames.size, f"VM {vm.id}: granted {vm.granted}, pmap maps {frames.size}")
        _check(vm.shared == np.count_nonzero(shared), f"VM {vm.id}: shared {vm.shared} != {np.count_nonzero(shared)}")
        zero = np.count_nonzero(shared & (machine.content[frames] == 0))
        _check(vm.zero == zero, f"VM {vm.id}: zero {vm.zero} != {zero}")
        charge = float(np.sum(1.0 / refs)) if refs.size else 0.0
        _check(abs(vm.consumed - charge) < 1e-6 * (1 + vm.pages), f"VM {vm.id}: consumed {vm.consumed} != {charge}")
        _check(vm.consumed <= vm.granted + 1e-6 <= vm.pages + 1e-6, f"VM {vm.id}: consumed <= granted <= configured broken")
        if vm.domain is None:
            _check(not shared.any(), f"VM {vm.id} has page sharing off but shares pages")
        # Every shared frame is mapped only by VMs of one domain.
        for _, other in running:
            if other is vm or (vm.domain is not None and other.domain is vm.domain):
                continue
            common = np.intersect1d(frames, other.pmap[other.pmap >= 0])
            _check(not common.size, f"VMs {vm.id} and {other.id} share frames across sharing domains")
        # The guest's page lists and never-used range partition its physical pages.
        guest = vm.guest
        listed = np.concatenate([pages.view() for pages in guest.lists] + [np.arange(guest.untouched_from, vm.pages)])
        _check(listed.size == vm.pages and np.unique(listed).size == vm.pages, f"VM {vm.id}: guest page lists broken")

    for key, domain in domains.items():
        table = domain.table
        slots = table.slots
        held = np.flatnonzero(slots >= 0)
        frames = slots[held]
        _check(held.size == table.live, f"domain {key}: live count {table.live} != {held.size}")
        _check(np.count_nonzero(slots == -2) == table.tombstones, f"domain {key}: tombstones miscounted")
        _check(not np.any(refcount[frames] == 0), f"domain {key}: table holds a free frame")
        keys = machine.content[frames]
        _check(np.unique(keys).size == keys.size, f"domain {key}: two entries with the same content")
        members = {vm.id for vm in domain.members.values()}
        _check(set(owner[frames].tolist()) <= members, f"domain {key}: entry mapped by a non-member")
        _check(np.array_equal(table.locate(frames), held), f"domain {key}: an entry cannot be found by its content")
        all_shared = np.flatnonzero(refcount >= 2)
        mine = all_shared[np.isin(owner[all_shared], list(members))]
        _check(np.isin(mine, frames).all(), f"domain {key}: a shared frame is missing from the table")
        if domain.group:
            tags = table.tags[held]
            refs = refcount[frames]
            for col, vm in domain.members.items():
                per_frame = np.zeros(machine.frames, np.int64)
                distinct_frames, counts = group_counts(vm.pmap[vm.pmap >= 0])
                per_frame[distinct_frames] = counts
                alone = refs == 1
                _check(np.all((tags[alone] == col) == (per_frame[frames[alone]] == 1)), f"domain {key}: hint owner tag wrong")
                rows = domain.rows.data[tags[~alone], col]
                _check(np.array_equal(rows, per_frame[frames[~alone]]), f"domain {key}: member {vm.id} row counts wrong")

    host = counters.host_counters(machine, [vm for _, vm in running])
    vm_sum = sum(counters.vm_counters(vm)["mem.consumed"] + vm.overhead_pages * PAGE_SIZE_KB for _, vm in running)
    vmkernel = host["mem.sysUsage"]
    _check(abs(vm_sum + vmkernel - host["mem.consumed"]) <= max(1, len(running)), "VM consumed + overhead + VMkernel != host consumed")
    _check(host["mem.sharedcommon"] <= host["mem.shared"], "shared common exceeds shared")
    _check(host["mem.consumed"] <= host["mem.totalCapacity"], "host consumed exceeds its memory")
