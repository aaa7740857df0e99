"""Transparent page sharing (Waldspurger, OSDI 2002, section 4; DESIGN.md 4).

A scanner visits guest pages of powered-on VMs in random order. For each private page it looks the
page's content up in a share table. If a frame with that content is there, the page is remapped
copy-on-write to it and its own frame is freed. If not, the page's frame goes into the table as a
*hint*: not shared, not write-protected, just remembered. A later page with the same content finds
the hint and both pages then share the hint's frame. A write to a shared page gives the writer a
private copy (the VMM's write path, `vmm`).

Hints in ESX are verified when matched, because the hinted page may have changed since it was
hashed. Here the VMM drops a frame's table entry whenever it rewrites the frame in place, so every
entry's key is its frame's current content and a match needs no second look; a stale hint cannot
arise. The paper's "16-bit count with an overflow table" is a plain int32 count per frame here.
A page of unique data (`content.is_unique`: no other page holds it, nor ever will) is hashed and
left as it is: its hint could never be matched, so it would only take room in the table and be
removed again when the page is rewritten. No counter tells the difference.

Large pages (VMware KB 1021095; `vmm`) are never shared, but the scanner still hashes their
sub-pages: one whose content the table lacks goes in as a hint; one whose content is there stays
as it is, and so does a small page whose content only a large page's hint holds. Once the large
page is broken its pages share like any other: those that matched at once
(`vmm.break_random_large`), the hints when a page with their content is scanned next.

Salting (VMware KB 2097593; `advanced_settings.sharing_domain_key`) splits the host into *sharing
domains*, one share table each: pages share only with pages of the same domain.

Accounting per VM (mem.shared, mem.zero, mem.consumed) is kept incrementally. In a VM's own domain
every reference to a domain frame is the VM's, so counts suffice. In a domain several VMs share
("group" domain) each shared frame has a row of per-member reference counts, so that a change of a
frame's reference count re-divides its charge among exactly the VMs that map it.
"""

import math
from typing import TYPE_CHECKING

import numpy as np

from hostsim.engine.content import is_unique
from hostsim.engine.grouping import distinct, group_counts
from hostsim.engine.machine import (
    FRAME,
    LARGE_OWNER,
    LISTED,
    MachineMemory,
    coprime_stride,
    run_length,
    run_order,
)
from hostsim.engine.pagelist import PageList

if TYPE_CHECKING:
    from hostsim.engine.vmm import RunningVM
from hostsim.engine.share_table import ShareTable


class RowStore:
    """Per-member reference counts of the shared frames of a group domain: `data[row, member]`."""

    _GROWTH = 1.5

    def __init__(self):
        self.data = np.zeros((0, 1), np.int32)
        self._free = PageList()
        self._next = 0

    @property
    def width(self) -> int:
        return self.data.shape[1]

    @property
    def nbytes(self) -> int:
        return self.data.nbytes + self._free.nbytes

    def widen(self, width: int) -> None:
        if width > self.width:
            data = np.zeros((self.data.shape[0], width), np.int32)
            data[:, : self.width] = self.data
            self.data = data

    def allocate(self, n: int) -> np.ndarray:
        reused = self._free.pop_newest(n)
        fresh = n - reused.size
        if self._next + fresh > self.data.shape[0]:
            rows = max(64, math.ceil((self._next + fresh) * self._GROWTH))
            data = np.zeros((rows, self.width), np.int32)
            data[: self.data.shape[0]] = self.data
            self.data = data
        ids = np.concatenate([reused, np.arange(self._next, self._next + fresh, dtype=np.int32)])
        self._next += fresh
        return ids

    def release(self, ids: np.ndarray) -> None:
        self.data[ids] = 0
        self._free.push(ids)

    def to_state(self) -> dict:
        return {"data": self.data, "free": self._free.view().copy(), "next": self._next}

    @classmethod
    def from_state(cls, state: dict) -> "RowStore":
        store = cls()
        store.data = state["data"]
        store._free = PageList(state["free"])
        store._next = state["next"]
        return store


# --------------------------------------------------------------------------- sharing domains

_ROWS_PER_CHUNK = 1 << 18  # bounds the (frames x members) temporaries of group accounting


class SharingDomain:
    """The VMs that may share pages with each other, and their share table.

    Members are VirtualMachine objects (`vmm`); each has a column number `share_col` here and
    carries its own counters (`shared`, `zero` in pages, `consumed` in frames, a float).
    """

    def __init__(self, key: tuple, machine: MachineMemory):
        self.key = key
        self.group = key[0] != "vm"
        self.machine = machine
        self.table = ShareTable(machine, tagged=self.group)
        self.rows = RowStore() if self.group else None
        self.members: dict[int, RunningVM] = {}

    # A group domain (several VMs) keeps per-member rows and tags; a single VM's domain has none.
    @property
    def _rows(self) -> "RowStore":
        assert self.rows is not None, "per-member rows exist in group domains only"
        return self.rows

    @property
    def _tags(self) -> np.ndarray:
        assert self.table.tags is not None, "tags exist in group domains only"
        return self.table.tags

    @property
    def nbytes(self) -> int:
        return self.table.nbytes + (self.rows.nbytes if self.rows is not None else 0)

    def join(self, vm) -> int:
        col = next(c for c in range(len(self.members) + 1) if c not in self.members)
        self.members[col] = vm
        if self.rows is not None:
            self.rows.widen(col + 1)
        return col

    def leave(self, vm) -> None:
        del self.members[vm.share_col]

    # ------------------------------------------------------------------ scanning

    def scan(self, vm, pages: np.ndarray, entries: np.ndarray | None = None) -> int:
        """Visit `pages` of `vm` (`entries`: their pmap entries, if the caller has them).

        Pages whose content the table holds are shared; the others become hints. Pages already
        shared or hinted stay as they are. Returns the pages newly shared.
        """
        return self.scan_many([(vm, pages, entries)])

    def scan_many(self, batches: list[tuple["RunningVM", np.ndarray, np.ndarray | None]]) -> int:
        """`scan` of several batches (vm, pages, entries or None) of members, as one batch.

        A tick's scan of a group domain visits every member: one lookup of all their pages costs
        the share table's rounds once instead of once per member. Pages of different members with
        the same content share just as if the members had been scanned one after the other; only
        which of their frames stays may differ, and no counter depends on that.
        """
        redundant, newly_shared = self.share_many(batches)
        self.machine.release(redundant)
        self.machine.shared_frames += newly_shared
        return redundant.size

    def share(
        self, vm, pages: np.ndarray, entries: np.ndarray | None = None
    ) -> tuple[np.ndarray, int]:
        """The work of `scan`, but the frames it frees and the count of frames that became shared
        are returned for the caller to hand to the host. Apart from that, a VM's own domain touches
        only its VM, its table and its frames, so several such domains can be scanned at the same
        time.
        """
        return self.share_many([(vm, pages, entries)])

    def share_many(
        self, batches: list[tuple["RunningVM", np.ndarray, np.ndarray | None]]
    ) -> tuple[np.ndarray, int]:
        """The work of `scan_many`, returned as `share` returns it."""
        machine = self.machine
        visited = [self._new_repeatable(vm, pages, entries) for vm, pages, entries in batches]
        visited = [part for part in visited if part[1].size]
        if not visited:
            return np.zeros(0, np.int32), 0
        if len(visited) == 1:
            vm, pages, frames, keys = visited[0]
            member, cols = None, vm.share_col
        else:
            sizes = [part[1].size for part in visited]
            pages, frames, keys = (np.concatenate([part[i] for part in visited]) for i in (1, 2, 3))
            member = np.repeat(np.arange(len(visited)), sizes)
            cols = np.repeat(np.array([part[0].share_col for part in visited], np.int32), sizes)
        match, resident = self.table.find_or_insert(keys, frames, cols)
        # All now in the table: inserted as hints, or ...
        for vm, vm_pages, vm_frames, _ in visited:
            vm.pmap[vm_pages] = vm_frames | LISTED
        if not match.size:
            return frames[:0], 0
        owners = machine.owner
        large = ((owners[frames[match]] | owners[resident]) & LARGE_OWNER) != 0
        if large.any():  # ... not shared, a large page on either side: they stay as they are
            for vm, held in _by_member(visited, member, match.compress(large)):
                vm.pmap[pages[held]] = frames[held]
            match, resident = match.compress(~large), resident.compress(~large)
            if not match.size:
                return frames[:0], 0
        # ... mapped to the frame that was there
        matched_member = None if member is None else member[match]
        for vm, at in _by_member(visited, matched_member, np.arange(match.size)):
            vm.pmap[pages[match[at]]] = resident[at] | LISTED
            vm.consumed -= at.size
        redundant = frames[match]  # the copies the shared frames replace
        if self.group:
            self._change_refs(*self._joining(resident, cols if member is None else cols[match]))
            return redundant, 0
        vm = visited[0][0]  # a VM's own domain: every batch is its
        targets, joining = group_counts(resident)
        old = machine.refcount[targets]
        machine.refcount[targets] = old + joining
        became_shared = old == 1
        # Newly shared: the joining pages, and a resident page that is no longer alone.
        now_shared = joining + became_shared
        zero = machine.content[targets] == 0
        vm.shared += int(now_shared.sum())
        vm.zero += int(now_shared[zero].sum())
        return redundant, int(np.count_nonzero(became_shared))

    def _new_repeatable(self, vm, pages: np.ndarray, entries: np.ndarray | None) -> tuple:
        """(vm, pages, frames, contents) of the `pages` a scan looks up: mapped, not listed yet
        (a frame in the table, a hint or shared, would find itself), and not unique data (on no
        other page, and never will be: its hint could never be matched, so it stays out of the
        table, which changes no counter, and such a page stays as it is)."""
        if entries is None:
            entries = vm.pmap[pages]
        new = (entries >= 0) & (entries < LISTED)
        if not new.all():
            pages, entries = pages.compress(new), entries.compress(new)
        keys = self.machine.content[entries]
        repeatable = ~is_unique(keys)
        if not repeatable.all():
            pages, entries, keys = (part.compress(repeatable) for part in (pages, entries, keys))
        return vm, pages, entries, keys

    def _joining(self, resident: np.ndarray, cols: int | np.ndarray) -> tuple:
        """(distinct frames, their new references per member) of pages of the members `cols`
        (one, or one per page) now mapping `resident` frames."""
        if np.ndim(cols) == 0:
            targets, joining = group_counts(resident)
            return targets, self._column(targets.size, int(cols), joining)
        width = self._rows.width
        pairs, counts = group_counts(resident.astype(np.int64) * width + cols)
        frames = pairs // width
        first = np.concatenate(([True], frames[1:] != frames[:-1]))
        delta = np.zeros((int(np.count_nonzero(first)), width), np.int32)
        delta[first.cumsum() - 1, pairs % width] = counts
        return frames.compress(first).astype(np.int32), delta

    def _column(self, n: int, col: int, counts: np.ndarray) -> np.ndarray:
        """Per-member changes of `n` frames: `counts` in member `col`'s column, 0 elsewhere."""
        delta = np.zeros((n, self._rows.width), np.int32)
        delta[:, col] = counts
        return delta

    # ------------------------------------------------------------------ pages leaving frames

    def forget(self, frames: np.ndarray) -> None:
        """Hinted private frames are about to be rewritten in place: drop their entries.

        (The caller clears the LISTED bit of their pmap entries.)
        """
        self.table.remove(frames)

    def drop_refs(self, vm, frames: np.ndarray, counts: np.ndarray) -> None:
        """`counts[i]` pages of `vm` stopped mapping shared frame `frames[i]` (distinct frames).

        Frames nobody maps any more are freed; a frame left with one page stays in the table as a
        hint, and that page is no longer shared.
        """
        machine = self.machine
        if self.group:
            self._change_refs(frames, self._column(frames.size, vm.share_col, -counts))
            return
        old = machine.refcount[frames]
        new = old - counts
        machine.refcount[frames] = new
        unshared = old - np.where(new >= 2, new, 0)  # the leaving pages, and a page left alone
        zero = machine.content[frames] == 0
        vm.shared -= int(unshared.sum())
        vm.zero -= int(unshared[zero].sum())
        machine.shared_frames -= int(np.count_nonzero(new < 2))
        dead = frames.compress(new == 0)
        if dead.size:
            self.table.remove(dead)
            machine.release(dead)
            vm.consumed -= dead.size

    def release_vm(self, vm) -> None:
        """Power-off: every frame `vm` maps loses that reference; the VM's counters end at zero."""
        machine = self.machine
        entries = vm.pmap.compress(vm.pmap >= 0)
        frames = entries & FRAME
        refs = machine.refcount[frames]
        private = frames.compress(refs == 1)
        if self.group:
            self.table.remove(frames.compress((refs == 1) & (entries >= LISTED)))  # its hints
            machine.release(private)
            self.drop_refs(vm, *group_counts(frames.compress(refs >= 2)))
            self.table.compact()
        else:
            shared = distinct(frames.compress(refs >= 2))  # every reference to them is this VM's
            machine.release(private)
            machine.release(shared)
            machine.shared_frames -= shared.size
            self.table.clear()

    def _shared_pages_of(self, vm) -> tuple[np.ndarray, np.ndarray]:
        machine = self.machine
        pages = (vm.pmap >= 0).nonzero()[0]
        frames = vm.pmap[pages] & FRAME
        shared = machine.refcount[frames] >= 2
        return pages.compress(shared), frames.compress(shared)

    def unshare_cost(self, vm) -> int:
        """Frames that private copies of all of `vm`'s shared pages take, net of the frames
        freed."""
        pages, frames = self._shared_pages_of(vm)
        distinct_frames, counts = group_counts(frames)
        return pages.size - int(np.count_nonzero(self.machine.refcount[distinct_frames] == counts))

    def unshare_vm(self, vm) -> None:
        """Give every shared page of `vm` a private copy and drop its hints (page sharing turned
        off).

        The caller checked `unshare_cost` against the free frames.
        """
        machine = self.machine
        pages, frames = self._shared_pages_of(vm)
        distinct_frames, counts = group_counts(frames)
        contents = machine.content[frames]
        self.drop_refs(vm, distinct_frames, counts)
        copies = machine.take(pages.size, vm.slot)
        machine.content[copies] = contents
        vm.pmap[pages] = copies
        vm.consumed += pages.size
        hinted = (vm.pmap >= LISTED).nonzero()[0]
        vm.pmap[hinted] &= FRAME
        if self.group:
            self.table.remove(vm.pmap[hinted])
            self.table.compact()
        else:
            self.table.clear()

    # ------------------------------------------------------------------ group accounting

    def _rows_of(self, frames: np.ndarray, slots: np.ndarray, refs: np.ndarray) -> np.ndarray:
        """Per-member references of each frame: a stored row if shared, else its one owner."""
        rows = np.zeros((frames.size, self._rows.width), np.int32)
        tags = self._tags[slots]
        alone = refs == 1
        rows[alone.nonzero()[0], tags[alone]] = 1
        rows[~alone] = self._rows.data[tags[~alone]]
        return rows

    def _change_refs(self, frames: np.ndarray, delta: np.ndarray) -> None:
        """The references of the members to the distinct `frames` change by `delta[frame, member]`;
        re-divide each frame's charge."""
        slots = self.table.locate(frames)
        step = max(1, _ROWS_PER_CHUNK // self._rows.width)
        for start in range(0, frames.size, step):
            part = slice(start, start + step)
            self._change_refs_of(frames[part], slots[part], delta[part])

    def _change_refs_of(self, frames, slots, delta) -> None:
        machine, tags = self.machine, self._tags
        old = machine.refcount[frames]
        rows_old = self._rows_of(frames, slots, old)
        rows_new = rows_old + delta
        new = old + delta.sum(axis=1, dtype=old.dtype)
        machine.refcount[frames] = new
        was, now = old >= 2, new >= 2
        moved = rows_new * now[:, None] - rows_old * was[:, None]
        zero = machine.content[frames] == 0
        shared_delta = moved.sum(axis=0).tolist()
        zero_delta = moved[zero].sum(axis=0).tolist()
        charge_delta = (
            (rows_new / np.maximum(new, 1)[:, None]).sum(axis=0)
            - (rows_old / old[:, None]).sum(axis=0)
        ).tolist()
        for col, member in self.members.items():
            member.shared += shared_delta[col]
            member.zero += zero_delta[col]
            member.consumed += charge_delta[col]
        shared_before, shared_after = int(np.count_nonzero(was)), int(np.count_nonzero(now))
        machine.shared_frames += shared_after - shared_before
        # Rows follow the frames that are shared: new ones get a row, those still shared keep
        # theirs, those no longer shared give theirs back (the counts skip what cannot occur).
        if shared_after:
            became = now & ~was
            if became.any():
                ids = self._rows.allocate(int(np.count_nonzero(became)))
                self._rows.data[ids] = rows_new[became]
                tags[slots[became]] = ids
            if shared_before:
                stays = now & was
                if stays.any():
                    self._rows.data[tags[slots[stays]]] = rows_new[stays]
        if shared_after < frames.size:
            ended = was & ~now
            if shared_before and ended.any():
                self._rows.release(tags[slots[ended]])
                alone = ended & (new == 1)
                if alone.any():
                    tags[slots[alone]] = rows_new[alone].argmax(axis=1)  # the one member left
            dead = new == 0
            if dead.any():
                self.table.remove_at(slots[dead])
                machine.release(frames[dead])

    # ------------------------------------------------------------------ snapshot

    def to_state(self) -> dict:
        return {
            "key": list(self.key),
            "table": self.table.to_state(),
            "rows": self.rows.to_state() if self.rows is not None else None,
            "members": {str(col): vm.id for col, vm in self.members.items()},
        }

    @classmethod
    def from_state(cls, state: dict, machine: MachineMemory, vms: dict) -> "SharingDomain":
        domain = cls.__new__(cls)
        domain.key = tuple(state["key"])
        domain.group = domain.key[0] != "vm"
        domain.machine = machine
        domain.table = ShareTable.from_state(state["table"], machine)
        domain.rows = RowStore.from_state(state["rows"]) if state["rows"] is not None else None
        domain.members = {int(col): vms[vm_id] for col, vm_id in state["members"].items()}
        return domain


def _by_member(visited: list[tuple], member: np.ndarray | None, at: np.ndarray):
    """(vm, the entries of `at` that are its) for each VM of a scanned batch (`member`: the
    batch's VM of each entry, None when the batch has one VM)."""
    if member is None:
        yield visited[0][0], at
        return
    of = member[at]
    for index, part in enumerate(visited):
        mine = at.compress(of == index)
        if mine.size:
            yield part[0], mine


# --------------------------------------------------------------------------- scan order


class ScanCursor:
    """Where the scanner is in a VM: each pass visits every guest page once, in a fresh random
    order.

    The order is `machine.run_order`: runs of 64 pages (256 KB) in an affine permutation of the
    runs, redrawn per pass, so no per-page state is needed. Visiting a run's pages in a row reads
    the pmap and the frames' contents a cache line at a time (the demo host's tick is about 4%
    faster than page by page); a pass still covers every page once, spread over the whole VM.
    """

    def __init__(self, pages: int, rng: np.random.Generator):
        self.pages = pages
        self.carry = 0.0  # fraction of a page of scan budget left over
        self._new_pass(rng)

    def _new_pass(self, rng: np.random.Generator) -> None:
        self.run = run_length(self.pages)
        self.stride = coprime_stride(self.pages // self.run, rng)
        self.offset = int(rng.integers(self.pages // self.run))
        self.position = 0

    def take(self, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        """The next `n` pages to visit, as batches of distinct pages."""
        batches = []
        while n > 0:
            count = min(n, self.pages - self.position)
            steps = np.arange(self.position, self.position + count, dtype=np.int64)
            batches.append(run_order(steps, self.run, self.stride, self.offset, self.pages))
            self.position += count
            n -= count
            if self.position == self.pages:
                self._new_pass(rng)
        return batches

    def to_state(self) -> dict:
        return {
            "carry": self.carry,
            "stride": self.stride,
            "offset": self.offset,
            "position": self.position,
            "run": self.run,
        }

    @classmethod
    def from_state(cls, state: dict, pages: int) -> "ScanCursor":
        cursor = cls.__new__(cls)
        cursor.pages = pages
        for name in ("carry", "stride", "offset", "position"):
            setattr(cursor, name, state[name])
        cursor.run = state.get("run", 1)  # saved before runs: the pass goes on page by page
        return cursor
