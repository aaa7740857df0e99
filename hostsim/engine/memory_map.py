"""The three layers made visible: a VM's guest physical memory map, the host's machine memory map,
and sampled pages traced from a process's virtual page to its machine frame (DESIGN.md 4c).

Maps divide memory into `cells` runs of (nearly) equal length: cell i covers pages
[i * N // cells, (i + 1) * N // cells). Each cell counts its pages per state and names the owner
holding most of them. The VM's map is exact: its counts add up to the VM's counters. The host's
map is exact up to `EXACT_FRAMES` machine frames; above that each cell is estimated from
`SAMPLED_FRAMES_PER_CELL` frames spread evenly over it (so a 512 GiB host maps in milliseconds).
VMkernel memory, VM overhead and compression caches are counts, not frames, in the engine
(`machine`): the host map spreads them over the cells in proportion to each cell's frames that no
guest page maps. Each host cell also counts the frames among its VMs' that back 2 MB large pages
(`large`): a part of those VMs' counts, not a category of its own, since a large page's frames
still belong to their VM (the map is by owner) and the counts keep adding up to the cell's frames.
Nothing here draws from the engine's random generator: observing never changes what the
simulation does next.
"""

import numpy as np

from hostsim.engine.errors import EngineError
from hostsim.engine.guest import BALLOON, FREE, KERNEL, PAGE_CACHE, REGIONS
from hostsim.engine.machine import (
    BALLOONED,
    FRAME,
    LARGE_OWNER,
    LISTED,
    OWNER_SLOT,
    PAGE_SIZE_KB,
    SLOT_BASE,
    UNMAPPED,
)
from hostsim.engine.mmu import SOFTWARE, TLB_ENTRIES
from hostsim.engine.processes import NOT_PRESENT, PAGED_OUT

MAX_CELLS = 4096
MAX_TRACED = 65536
EXACT_FRAMES = 1 << 22  # 16 GiB of machine memory: mapped frame by frame
SAMPLED_FRAMES_PER_CELL = 256
MAX_ALSO_MAPPED = 16  # other guest pages listed per traced frame

# Guest physical page states, in legend order; each page is in exactly one. "large": backed by a
# 2 MB large page (`vmm`), whether the guest uses the page or has it free; never shared.
VM_STATES = (
    "untouched",  # no frame: never touched since power-on (or handed back by the balloon)
    "guest_free",  # on the guest's free list, still backed by a private frame
    "private",  # allocated in the guest, backed by a frame only it maps
    "shared",  # mapped to a frame other guest pages map too (not the zero page)
    "zero",  # mapped to a shared zero page
    "ballooned",
    "swapped",
    "compressed",
    "large",  # a sub-page of a large page: mapped to a frame only it maps
)
UNTOUCHED, GUEST_FREE, PRIVATE, SHARED, ZERO, BALLOONED_STATE, SWAPPED, COMPRESSED, LARGE = range(9)
REGION_OWNERS = {FREE: "free", KERNEL: "kernel", PAGE_CACHE: "page cache", BALLOON: "balloon"}
HOST_FIXED = ("free", "vmkernel", "overhead", "compression", "shared")


def check_cells(cells) -> int:
    if (
        isinstance(cells, bool)
        or not isinstance(cells, int | np.integer)
        or not 1 <= cells <= MAX_CELLS
    ):
        raise EngineError(f"cells must be a whole number from 1 to {MAX_CELLS}; got {cells!r}.")
    return int(cells)


def _bounds(total: int, cells: int) -> np.ndarray:
    return np.arange(cells + 1, dtype=np.int64) * total // cells


def _majority(codes: np.ndarray, cell_of: np.ndarray, cells: int) -> np.ndarray:
    """Per cell, the most frequent of the small non-negative `codes`."""
    kinds = int(codes.max()) + 1 if codes.size else 1
    table = np.bincount(cell_of * kinds + codes, minlength=cells * kinds).reshape(cells, kinds)
    return table.argmax(axis=1)


def page_states(vm) -> np.ndarray:
    """Every guest physical page's state (int8, `VM_STATES`)."""
    pmap = vm.pmap
    state = np.zeros(vm.pages, np.int8)  # UNTOUCHED
    mapped = pmap >= 0
    state[mapped] = PRIVATE
    state[mapped & (vm.guest.region == FREE)] = GUEST_FREE
    # Only frames listed in the share table can be shared (vmm.write), so only those are read.
    listed = (pmap >= LISTED).nonzero()[0]
    shared = listed.compress(vm.machine.refcount[pmap[listed] & FRAME] >= 2)
    state[shared] = SHARED
    state[shared.compress(vm.machine.content[pmap[shared] & FRAME] == 0)] = ZERO
    state[pmap == BALLOONED] = BALLOONED_STATE
    outside = (pmap <= SLOT_BASE).nonzero()[0]
    if outside.size:
        zipped = vm.store.zip_kb[SLOT_BASE - pmap[outside]] > 0
        state[outside] = np.where(zipped, COMPRESSED, SWAPPED)
    if vm.large_count:
        state[vm.sub_pages(vm.large.nonzero()[0])] = LARGE
    return state


def page_owners(vm) -> tuple[np.ndarray, list[str]]:
    """Per guest physical page an owner code, and the owners' labels: the guest regions without
    a process (free, kernel, page cache, balloon), then each process, "name (pid)".
    """
    guest = vm.guest
    regions = sorted(REGION_OWNERS)
    labels = [REGION_OWNERS[region] for region in regions]
    code_of_region = np.zeros(REGIONS, np.int16)  # process regions: overwritten per process below
    code_of_region[regions] = np.arange(len(regions))
    codes = code_of_region[guest.region]
    spaces = guest.spaces
    for process in spaces.processes.values():
        code = len(labels)
        labels.append(f"{process.name} ({process.pid})")
        for vma in process.vmas:
            if vma.shared is None:  # a worker's mapping of its parent's image: the parent's pages
                entries = spaces.entries(vma)
                codes[entries.compress(entries >= 0)] = code
    return codes, labels


def _per_cell(values: np.ndarray, kinds: int, bounds: np.ndarray) -> np.ndarray:
    """cells x kinds: how many of each cell's entries have each value (0 .. kinds-1)."""
    cells = bounds.size - 1
    if values.size % cells == 0:  # equal runs: count column by column over a reshaped view
        rows = values.reshape(cells, -1)
        return np.stack([np.count_nonzero(rows == kind, axis=1) for kind in range(kinds)], axis=1)
    cell_of = np.repeat(np.arange(cells, dtype=np.int32), np.diff(bounds))
    return np.bincount(cell_of * kinds + values, minlength=cells * kinds).reshape(cells, kinds)


def vm_memory_map(vm, cells: int) -> dict:
    cells = min(check_cells(cells), vm.pages)
    bounds = _bounds(vm.pages, cells)
    table = _per_cell(page_states(vm), len(VM_STATES), bounds)
    codes, labels = page_owners(vm)
    owner = (
        _per_cell(codes, len(labels), bounds).argmax(axis=1)
        if len(labels) <= 64
        else (
            _majority(codes.astype(np.int64), np.repeat(np.arange(cells), np.diff(bounds)), cells)
        )
    )
    return {
        "pages": vm.pages,
        "page_kb": PAGE_SIZE_KB,
        "states": list(VM_STATES),
        "owners": labels,
        "totals": dict(zip(VM_STATES, table.sum(axis=0).tolist(), strict=True)),
        "cells": [
            {
                "start": int(bounds[i]),
                "pages": int(bounds[i + 1] - bounds[i]),
                "counts": dict(zip(VM_STATES, row, strict=True)),
                "owner": labels[owner[i]],
            }
            for i, row in enumerate(table.tolist())
        ],
    }


def _apportion(weights: np.ndarray, total: int) -> np.ndarray:
    """`total` split over cells in proportion to `weights`, in whole frames (largest remainder)."""
    whole = int(weights.sum())
    if total <= 0 or whole <= 0:
        return np.zeros(weights.size, np.int64)
    total = min(total, whole)
    exact = weights * (total / whole)
    share = np.floor(exact).astype(np.int64)
    short = total - int(share.sum())
    if short:
        share[np.argsort(share - exact, kind="stable")[:short]] += 1
    return np.minimum(share, weights)


def host_memory_map(machine, running: list, names: dict[int, str], cells: int) -> dict:
    cells = min(check_cells(cells), machine.frames)
    bounds = _bounds(machine.frames, cells)
    sampled = machine.frames > EXACT_FRAMES
    if sampled:
        # Frames spread evenly over each cell (cell start + k * length / samples + half a step).
        k = np.arange(SAMPLED_FRAMES_PER_CELL)
        lengths = np.diff(bounds)
        frames = (
            bounds[:-1, None]
            + (2 * k[None, :] + 1) * lengths[:, None] // (2 * SAMPLED_FRAMES_PER_CELL)
        ).ravel()
        cell_of = np.repeat(np.arange(cells), SAMPLED_FRAMES_PER_CELL)
    else:
        frames = np.arange(machine.frames)
        cell_of = np.repeat(np.arange(cells), np.diff(bounds))
    by_slot = {vm.slot: vm for vm in running}
    slots = sorted(by_slot)
    # Categories: 0 unmapped, 1 shared, then one per running VM (in slot order).
    # Every slot has a column: a free frame keeps the slot of its last owner, maybe powered off.
    column = np.zeros(int(OWNER_SLOT) + 1, np.int64)
    column[slots] = 2 + np.arange(len(slots))
    refs = machine.refcount[frames]
    owners = machine.owner[frames]
    single = refs == 1
    category = np.where(refs >= 2, 1, np.where(single, column[owners & OWNER_SLOT], 0))
    kinds = 2 + len(slots)
    table = np.bincount(cell_of * kinds + category, minlength=cells * kinds).reshape(cells, kinds)
    # A large page's frames are never shared (`vmm`): they are some of the cell's VM frames.
    in_large = (owners >= LARGE_OWNER) & single  # LARGE_OWNER is the owner's top bit
    large = _per_cell(in_large.view(np.int8), 2, bounds)[:, 1]  # sampled: equal runs of samples
    if sampled:
        sizes = np.diff(bounds)
        table = _scale_rows(table, sizes)
        rounded = (2 * large * sizes + SAMPLED_FRAMES_PER_CELL) // (2 * SAMPLED_FRAMES_PER_CELL)
        large = np.minimum(rounded, table[:, 2:].sum(axis=1))
    overhead = sum(vm.overhead_pages for vm in running)
    unmapped = table[:, 0]
    vmkernel = _apportion(unmapped, machine.reserved - overhead)
    over = _apportion(unmapped - vmkernel, overhead)
    zipped = _apportion(unmapped - vmkernel - over, machine.zip_frames)
    free = unmapped - vmkernel - over - zipped
    keys = list(HOST_FIXED) + [str(by_slot[slot].id) for slot in slots]
    full = np.column_stack([free, vmkernel, over, zipped, table[:, 1:]])
    owner = full.argmax(axis=1)
    return {
        "frames": machine.frames,
        "page_kb": PAGE_SIZE_KB,
        "sampled": sampled,
        "states": list(HOST_FIXED),
        "vms": {str(by_slot[slot].id): names[by_slot[slot].id] for slot in slots},
        "totals": dict(zip(keys, full.sum(axis=0).tolist(), strict=True)),
        "large": int(large.sum()),
        "cells": [
            {
                "start": int(bounds[i]),
                "frames": int(bounds[i + 1] - bounds[i]),
                "counts": dict(zip(keys, row, strict=True)),
                "large": cell_large,
                "owner": keys[owner[i]],
            }
            for i, (row, cell_large) in enumerate(zip(full.tolist(), large.tolist(), strict=True))
        ],
    }


def _scale_rows(table: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Sample counts per cell scaled to the cell's size, each row adding up to it exactly."""
    exact = table * (sizes / table.sum(axis=1))[:, None]
    scaled = np.floor(exact).astype(np.int64)
    short = sizes - scaled.sum(axis=1)
    order = np.argsort(scaled - exact, axis=1, kind="stable")
    bump = np.arange(table.shape[1])[None, :] < short[:, None]
    np.put_along_axis(scaled, order, np.take_along_axis(scaled, order, axis=1) + bump, axis=1)
    return scaled


def trace_pages(vm, others: list, process, n: int, seed: list[int]) -> dict:
    """`n` virtual pages of `process` followed through the layers (see HostSim.trace_pages)."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= MAX_TRACED:
        raise EngineError(f"n must be a whole number from 1 to {MAX_TRACED}; got {n!r}.")
    spaces = vm.guest.spaces
    # Every virtual page of the process: (area index, offset), its entry.
    areas = process.vmas
    if not areas:
        return {"process": process.pid, "name": process.name, "pages": []}
    sizes = np.array([vma.pages for vma in areas])
    entries = np.concatenate([spaces.entries(vma) for vma in areas])
    resident = (entries >= 0).nonzero()[0]
    rest = (entries < 0).nonzero()[0]
    rng = np.random.default_rng(seed)  # its own generator: tracing never moves the engine's
    picked = rng.choice(resident, min(n, resident.size), replace=False)
    if picked.size < n and rest.size:
        picked = np.concatenate(
            [picked, rng.choice(rest, min(n - picked.size, rest.size), replace=False)]
        )
    picked = np.sort(picked)
    starts = np.cumsum(sizes) - sizes
    area_of = np.searchsorted(starts, picked, side="right") - 1
    recent = _recent_positions(entries, areas, sizes)
    software = vm.mmu_mode == SOFTWARE
    machine = vm.machine
    traced = []
    for position, area_index in zip(picked.tolist(), area_of.tolist(), strict=True):
        vma = areas[area_index]
        offset = position - int(starts[area_index])
        virtual_page = vma.start + offset
        entry = int(entries[position])
        page = {
            "area": vma.name,
            "shared_area": vma.shared is not None,
            "virtual_page": virtual_page,
            "virtual_address": hex(virtual_page * PAGE_SIZE_KB * 1024),
            "guest_page": None,
            "present": entry >= 0,
            "paged_out": entry == PAGED_OUT,
            "backing": "not present" if entry == NOT_PRESENT else "paged out",
            "machine_frame": None,
            "frame_refs": 0,
            "zero": False,
            "also_mapped_by": [],
            "shadow_entry": False,
            "tlb_entry": False,
        }
        if entry >= 0:
            pmap_entry = int(vm.pmap[entry])
            page["guest_page"] = entry
            page["backing"] = _backing(vm, pmap_entry)
            page["shadow_entry"] = software and pmap_entry >= 0
            page["tlb_entry"] = bool(recent[position]) and pmap_entry >= 0
            if pmap_entry >= 0:
                frame = pmap_entry & int(FRAME)
                page["machine_frame"] = frame
                page["frame_refs"] = int(machine.refcount[frame])
                page["zero"] = bool(machine.content[frame] == 0)
        traced.append(page)
    _fill_also_mapped(traced, vm, others)
    return {"process": process.pid, "name": process.name, "pages": traced}


def _backing(vm, pmap_entry: int) -> str:
    if pmap_entry >= 0:
        return "frame"
    if pmap_entry == UNMAPPED:
        return "untouched"
    if pmap_entry == BALLOONED:
        return "ballooned"
    return "compressed" if vm.store.zip_kb[SLOT_BASE - pmap_entry] > 0 else "swapped"


def _recent_positions(entries: np.ndarray, areas: list, sizes: np.ndarray) -> np.ndarray:
    """The TLB model's contents for the process: the last `TLB_ENTRIES` pages it touched (the
    newest area's touched pages last), present ones only.
    """
    order = []
    start = 0
    for vma, size in zip(areas, sizes.tolist(), strict=True):
        order.append(np.arange(start, start + min(vma.touched, size)))
        start += size
    touched = np.concatenate(order) if order else np.zeros(0, np.int64)
    touched = touched.compress(entries[touched] >= 0)
    recent = np.zeros(entries.size, bool)
    recent[touched[-TLB_ENTRIES:]] = True
    return recent


def _fill_also_mapped(traced: list, vm, others: list) -> None:
    """Other guest pages, of this VM or others in its sharing domain, mapping a traced frame."""
    frames = np.array(
        [page["machine_frame"] for page in traced if page["frame_refs"] >= 2], np.int64
    )
    if not frames.size:
        return
    found: dict[int, list] = {int(frame): [] for frame in frames}
    for other in [vm] + others:
        pmap = other.pmap
        hits = (np.isin(pmap & FRAME, frames) & (pmap >= 0)).nonzero()[0]
        for guest_page, frame in zip(hits.tolist(), (pmap[hits] & FRAME).tolist(), strict=True):
            if len(found[frame]) < MAX_ALSO_MAPPED:
                found[frame].append({"vm": other.id, "guest_page": guest_page})
    for page in traced:
        if page["frame_refs"] >= 2:
            page["also_mapped_by"] = [
                hit
                for hit in found[page["machine_frame"]]
                if not (hit["vm"] == vm.id and hit["guest_page"] == page["guest_page"])
            ]
