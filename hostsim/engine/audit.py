"""A from-scratch check of the engine's bookkeeping against its page tables (`HostSim.audit`).

Walks every frame and every pmap, so it costs O(memory): for tests and diagnostics, never per tick.
"""

import numpy as np

from hostsim.engine import counters
from hostsim.engine.errors import EngineInvariantError
from hostsim.engine.grouping import group_counts
from hostsim.engine.machine import FRAME, LISTED, PAGE_SIZE_KB, MachineMemory
from hostsim.engine.sharing import SharingDomain
from hostsim.engine.vmm import VirtualMachine


def _check(condition, message: str) -> None:
    if not condition:
        raise EngineInvariantError(message)


def audit_host(
    machine: MachineMemory, running: list[VirtualMachine], domains: dict[tuple, SharingDomain]
) -> None:
    refcount = machine.refcount.astype(np.int64)
    entries = {vm.id: vm.pmap.compress(vm.pmap >= 0) for vm in running}
    frames_of = {vm_id: mapped & FRAME for vm_id, mapped in entries.items()}

    # Frames: each reference count is the number of pmap entries pointing at the frame.
    everything = np.concatenate(list(frames_of.values())) if running else np.zeros(0, np.int32)
    counted = np.bincount(everything, minlength=machine.frames)
    wrong = (counted != refcount).nonzero()[0][:1]
    _check(
        not wrong.size, f"frame {wrong}: refcount {refcount[wrong]}, pmaps point {counted[wrong]}"
    )
    _check(machine.in_use == np.count_nonzero(refcount >= 1), "frames in use miscounted")
    _check(machine.shared_frames == np.count_nonzero(refcount >= 2), "shared frames miscounted")
    _check(
        machine.in_use + machine.reserved <= machine.frames, "more memory in use than the host has"
    )
    released = machine._released.all()
    _check(not refcount[released].any(), "a released frame is still mapped")
    _check(np.unique(released).size == released.size, "a frame was released twice")
    free_ids = released.size + machine.frames - machine._fresh_next
    _check(free_ids == machine.frames - machine.in_use, "free frames lost")

    # Share tables: which frames are listed, and in which domain.
    listed_in = np.full(machine.frames, -1, np.int64)
    for index, domain in enumerate(domains.values()):
        held = domain.table.slots.compress(domain.table.slots >= 0)
        _check(not (listed_in[held] >= 0).any(), "a frame is listed in two share tables")
        listed_in[held] = index

    owner = np.full(machine.frames, -1, np.int64)  # some VM mapping each frame
    for vm in running:
        owner[frames_of[vm.id]] = vm.id
    for vm in running:
        frames = frames_of[vm.id]
        refs = refcount[frames]
        shared = refs >= 2
        _check(
            vm.granted == frames.size, f"VM {vm.id}: granted {vm.granted}, pmap maps {frames.size}"
        )
        _check(vm.shared == np.count_nonzero(shared), f"VM {vm.id}: shared miscounted")
        zero = np.count_nonzero(shared & (machine.content[frames] == 0))
        _check(vm.zero == zero, f"VM {vm.id}: zero {vm.zero} != {zero}")
        charge = float(np.sum(1.0 / refs)) if refs.size else 0.0
        _check(
            abs(vm.consumed - charge) < 1e-6 * (1 + vm.pages), f"VM {vm.id}: consumed miscounted"
        )
        _check(
            vm.consumed <= vm.granted + 1e-6 <= vm.pages + 1e-6, f"VM {vm.id}: consumed > granted"
        )
        flagged = entries[vm.id] >= LISTED
        _check(
            np.array_equal(flagged, listed_in[frames] >= 0),
            f"VM {vm.id}: a pmap LISTED bit disagrees with the share tables",
        )
        if vm.domain is None:
            _check(not shared.any() and not flagged.any(), f"VM {vm.id}: sharing off, yet shares")
        for other in running:
            if other is vm or (vm.domain is not None and other.domain is vm.domain):
                continue
            common = np.intersect1d(frames, frames_of[other.id])
            _check(not common.size, f"VMs {vm.id} and {other.id} share across sharing domains")
        # The guest's page lists and never-used range partition its physical pages.
        guest = vm.guest
        listed = [pages.view() for pages in guest.lists] + [
            np.arange(guest.untouched_from, vm.pages)
        ]
        pages = np.concatenate(listed)
        _check(
            pages.size == vm.pages and np.unique(pages).size == vm.pages,
            f"VM {vm.id}: guest page lists broken",
        )

    for key, domain in domains.items():
        table = domain.table
        held = (table.slots >= 0).nonzero()[0]
        frames = table.slots[held]
        _check(held.size == table.live, f"domain {key}: live count {table.live} != {held.size}")
        _check(np.count_nonzero(table.slots == -2) == table.tombstones, f"domain {key}: tombstones")
        _check(not (refcount[frames] == 0).any(), f"domain {key}: table holds a free frame")
        keys = machine.content[frames]
        _check(
            np.unique(keys).size == keys.size, f"domain {key}: two entries with the same content"
        )
        members = {vm.id for vm in domain.members.values()}
        _check(
            set(owner[frames].tolist()) <= members, f"domain {key}: entry mapped by a non-member"
        )
        _check(
            np.array_equal(table.locate(frames), held), f"domain {key}: an entry cannot be found"
        )
        all_shared = (refcount >= 2).nonzero()[0]
        mine = all_shared[np.isin(owner[all_shared], list(members))]
        _check(
            np.isin(mine, frames).all(), f"domain {key}: a shared frame is missing from the table"
        )
        if domain.group:
            tags = table.tags[held]
            refs = refcount[frames]
            alone = refs == 1
            for col, vm in domain.members.items():
                per_frame = np.zeros(machine.frames, np.int64)
                distinct_frames, counts = group_counts(frames_of[vm.id])
                per_frame[distinct_frames] = counts
                owns = per_frame[frames[alone]] == 1
                _check(np.array_equal(tags[alone] == col, owns), f"domain {key}: hint owner wrong")
                rows = domain.rows.data[tags[~alone], col]
                _check(
                    np.array_equal(rows, per_frame[frames[~alone]]),
                    f"domain {key}: member {vm.id} row counts wrong",
                )

    host = counters.host_counters(machine, running)
    vm_sum = sum(
        counters.vm_counters(vm)["mem.consumed"] + vm.overhead_pages * PAGE_SIZE_KB
        for vm in running
    )
    _check(
        abs(vm_sum + host["mem.sysUsage"] - host["mem.consumed"]) <= max(1, len(running)),
        "VM consumed + overhead + VMkernel != host consumed",
    )
    _check(host["mem.sharedcommon"] <= host["mem.shared"], "shared common exceeds shared")
    _check(host["mem.consumed"] <= host["mem.totalCapacity"], "host consumed exceeds its memory")
