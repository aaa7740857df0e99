"""A from-scratch check of the engine's bookkeeping against its page tables (`HostSim.audit`).

Walks every frame, every pmap and every slot store, so it costs O(memory): for tests and
diagnostics, never per tick. Besides the sharing bookkeeping it checks DESIGN.md 4b's invariants:
each guest page is exactly one of untouched, mapped, ballooned, swapped or compressed; machine
memory closes exactly (free + VMkernel + overhead + VM frames + compression caches = total); no
VM holds less than its touched reservation; every page the guest uses is held by the host in
some form, and the balloon's pages are exactly the ballooned ones. And the large pages' (KB
1021095): each is 512 guest pages mapped to frames only they map, marked large, none shared,
ballooned, swapped or compressed, and only where the VM may have them.
"""

import numpy as np

from hostsim.engine import counters
from hostsim.engine.errors import EngineInvariantError
from hostsim.engine.grouping import group_counts
from hostsim.engine.guest import ANONYMOUS, BALLOON, FREE, REGIONS
from hostsim.engine.machine import (
    BALLOONED,
    FRAME,
    LARGE_OWNER,
    LARGE_PAGE_PAGES,
    LISTED,
    PAGE_SIZE_KB,
    SLOT_BASE,
    UNMAPPED,
    MachineMemory,
)
from hostsim.engine.overhead import vmkernel_pages
from hostsim.engine.processes import PAGED_OUT
from hostsim.engine.reclaim import cache_frames
from hostsim.engine.sharing import SharingDomain
from hostsim.engine.vmm import RunningVM


def _check(condition, message: str) -> None:
    if not condition:
        raise EngineInvariantError(message)


def audit_host(
    machine: MachineMemory,
    running: list[RunningVM],
    domains: dict[tuple, SharingDomain],
    scheduler,
    host_memory_mb: int,
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
    _check(machine.free >= 0, "more memory in use than the host has")
    overhead = sum(vm.overhead_pages for vm in running)
    _check(
        machine.reserved == vmkernel_pages(host_memory_mb) + overhead,
        "reserved frames are not the VMkernel's plus the VMs' overhead",
    )
    _check(
        machine.zip_frames == sum(vm.cache_frames for vm in running),
        "compression cache frames miscounted",
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
        for region, held_pages in enumerate(guest.lists):
            _check(
                (guest.region[held_pages.view()] == region).all(),
                f"VM {vm.id}: a page's region disagrees with the list it is on",
            )
        _audit_reclaimed(vm)
        _audit_processes(vm)
        _audit_large(vm, refcount)
    marked = (machine.owner & LARGE_OWNER).astype(bool) & (refcount >= 1)
    _check(
        np.count_nonzero(marked) == sum(vm.large_count for vm in running) * LARGE_PAGE_PAGES,
        "frames marked large are not exactly the large pages' frames",
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
            np.array_equal(table.find(frames), held) and np.array_equal(table.locate(frames), held),
            f"domain {key}: an entry cannot be found",
        )
        all_shared = (refcount >= 2).nonzero()[0]
        mine = all_shared[np.isin(owner[all_shared], list(members))]
        _check(
            np.isin(mine, frames).all(), f"domain {key}: a shared frame is missing from the table"
        )
        if domain.group:
            tags = domain._tags[held]
            refs = refcount[frames]
            alone = refs == 1
            for col, vm in domain.members.items():
                per_frame = np.zeros(machine.frames, np.int64)
                distinct_frames, counts = group_counts(frames_of[vm.id])
                per_frame[distinct_frames] = counts
                owns = per_frame[frames[alone]] == 1
                _check(np.array_equal(tags[alone] == col, owns), f"domain {key}: hint owner wrong")
                rows = domain._rows.data[tags[~alone], col]
                _check(
                    np.array_equal(rows, per_frame[frames[~alone]]),
                    f"domain {key}: member {vm.id} row counts wrong",
                )

    host = counters.host_counters(machine, running, scheduler, host_memory_mb)
    vm_sum = sum(
        counters.vm_counters(vm)["mem.consumed"]
        + (vm.overhead_pages + vm.cache_frames) * PAGE_SIZE_KB
        for vm in running
    )
    _check(
        abs(vm_sum + host["mem.sysUsage"] - host["mem.consumed"]) <= max(1, len(running)),
        "VM consumed + overhead + compression caches + VMkernel != host consumed",
    )
    _check(
        machine.free + machine.reserved + machine.in_use + machine.zip_frames == machine.frames,
        "machine memory does not close",
    )
    _check(host["mem.sharedcommon"] <= host["mem.shared"], "shared common exceeds shared")
    _check(
        host["mem.consumed"] <= machine.frames * PAGE_SIZE_KB, "host consumed exceeds its memory"
    )


def _audit_large(vm: RunningVM, refcount: np.ndarray) -> None:
    """A large page is 512 mapped private frames of this VM, marked large; no other is marked."""
    _check(vm.large_count == np.count_nonzero(vm.large), f"VM {vm.id}: large pages miscounted")
    _check(
        not vm.large_count or vm.large_allowed,
        f"VM {vm.id}: large pages without a hardware MMU and Mem.AllocGuestLargePage",
    )
    entries = vm.pmap[vm.sub_pages(vm.large.nonzero()[0])]
    _check((entries >= 0).all(), f"VM {vm.id}: a large page's sub-page has no frame")
    frames = entries & FRAME
    _check((refcount[frames] == 1).all(), f"VM {vm.id}: a large page's frame is shared")
    _check(
        (vm.machine.owner[frames] == (vm.slot | int(LARGE_OWNER))).all(),
        f"VM {vm.id}: a large page's frame is not marked as this VM's large frame",
    )


def _audit_processes(vm: RunningVM) -> None:
    """Guest page tables: each present entry maps a page of its area's region, one entry per
    page; the totals match; paged-out entries match the guest's count.
    """
    guest, spaces = vm.guest, vm.guest.spaces
    pages, regions = [], []
    virtual = resident = 0
    paged_out = np.zeros(REGIONS, np.int64)
    for process in spaces.processes.values():
        for vma in process.vmas:
            entries = spaces.entries(vma)
            virtual += vma.pages
            resident += int(np.count_nonzero(entries >= 0))
            _check(
                0 <= vma.touched <= vma.pages, f"VM {vm.id}: area {vma.name} touched past its end"
            )
            _check(
                not (entries[vma.touched :] >= 0).any(),
                f"VM {vm.id}: area {vma.name} has pages present beyond what it touched",
            )
            if vma.shared is None:
                present = (entries >= 0).nonzero()[0]
                pages.append(entries[present])
                regions.append(np.full(present.size, vma.region))
                paged_out[vma.region] += np.count_nonzero(entries == PAGED_OUT)
    _check(virtual == spaces.virtual, f"VM {vm.id}: reserved virtual memory miscounted")
    _check(resident == spaces.resident, f"VM {vm.id}: resident virtual memory miscounted")
    mapped = np.concatenate(pages) if pages else np.zeros(0, np.int32)
    mapped_regions = np.concatenate(regions) if regions else np.zeros(0, np.int8)
    _check(np.unique(mapped).size == mapped.size, f"VM {vm.id}: two entries map one guest page")
    _check(
        (guest.region[mapped] == mapped_regions).all(),
        f"VM {vm.id}: a mapped page is on another list",
    )
    for region in ANONYMOUS:
        _check(
            paged_out[region] == guest.paged_out[region],
            f"VM {vm.id}: pages paged out by the guest miscounted",
        )


def _audit_reclaimed(vm: RunningVM) -> None:
    """Page states, the slot store, the balloon, and the guest's used pages against the pmap."""
    pmap, store, guest = vm.pmap, vm.store, vm.guest
    ballooned = pmap == BALLOONED
    outside = pmap <= SLOT_BASE
    _check(
        np.count_nonzero(pmap >= 0)
        + np.count_nonzero(pmap == UNMAPPED)
        + np.count_nonzero(ballooned)
        + np.count_nonzero(outside)
        == vm.pages,
        f"VM {vm.id}: a pmap entry is no page state",
    )
    _check(vm.ballooned == np.count_nonzero(ballooned), f"VM {vm.id}: ballooned miscounted")
    balloon = guest.lists[BALLOON].view()
    _check(
        balloon.size == vm.ballooned and (pmap[balloon] == BALLOONED).all(),
        f"VM {vm.id}: the guest's balloon and the host's ballooned pages differ",
    )
    live = store.live()
    slots = SLOT_BASE - pmap.compress(outside)
    _check(
        np.array_equal(np.sort(slots), live)
        and np.array_equal(store.page[slots], outside.nonzero()[0]),
        f"VM {vm.id}: pmap slots and the slot store disagree",
    )
    _check(store.count == live.size, f"VM {vm.id}: slot count wrong")
    _check(
        np.array_equal(
            np.bincount(guest.region[store.page[live]], minlength=REGIONS), vm.slot_regions
        ),
        f"VM {vm.id}: slots per guest region miscounted",
    )
    zipped = store.zip_kb[live]
    _check(vm.compressed == np.count_nonzero(zipped), f"VM {vm.id}: compressed miscounted")
    _check(vm.swapped == np.count_nonzero(zipped == 0), f"VM {vm.id}: swapped miscounted")
    _check(vm.zip_kb == int(zipped.sum(dtype=np.int64)), f"VM {vm.id}: cache size miscounted")
    _check(vm.cache_frames == cache_frames(vm.zip_kb), f"VM {vm.id}: cache frames miscounted")
    _check(
        vm.zip_kb <= max(0, vm.zip_room_kb() + vm.zip_kb) or not vm.compressed,
        f"VM {vm.id}: compression cache larger than Mem.MemZipMaxPct allows",
    )
    _check(
        vm.granted + vm.ballooned + vm.swapped + vm.compressed <= vm.pages,
        f"VM {vm.id}: holds more than its configured memory",
    )
    _check(vm.granted >= vm.touched_reservation, f"VM {vm.id}: below its touched reservation")
    used = np.concatenate(
        [pages.view() for region, pages in enumerate(guest.lists) if region not in (FREE, BALLOON)]
    )
    _check(
        not np.isin(pmap[used], (UNMAPPED, BALLOONED)).any(),
        f"VM {vm.id}: a page the guest uses is not held by the host",
    )
