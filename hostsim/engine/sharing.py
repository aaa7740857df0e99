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

Salting (VMware KB 2097593) splits the host into *sharing domains*, one share table each: pages
share only with pages of the same domain. Our reading of Mem.ShareForceSalting:
  0  salting off: every VM shares with every VM (the paper's behaviour);
  1  VMs with the same sched.mem.pshare.salt share; VMs without a salt share with each other;
  2  (default) VMs with the same salt share; a VM without one gets its own salt (its vc.uuid),
     so it shares only inside itself.
A VM's salt is fixed when it powers on, as in ESXi, where the salt and Mem.ShareForceSalting take
effect for a VM at its next power-on: changing either leaves running VMs in their domain.

Accounting per VM (mem.shared, mem.zero, mem.consumed) is kept incrementally. In a VM's own domain
every reference to a domain frame is the VM's, so counts suffice. In a domain several VMs share
("group" domain) each shared frame has a row of per-member reference counts, so that a change of a
frame's reference count re-divides its charge among exactly the VMs that map it.
"""

import math
from dataclasses import dataclass

import numpy as np

from hostsim.engine.errors import EngineError
from hostsim.engine.grouping import distinct, group_counts
from hostsim.engine.machine import PAGES_PER_MB, MachineMemory, coprime_stride
from hostsim.engine.pagelist import PageList

# --------------------------------------------------------------------------- advanced settings


@dataclass(frozen=True)
class AdvancedSetting:
    name: str
    default: int
    minimum: int
    maximum: int
    description: str


SHARE_SCAN_TIME = "Mem.ShareScanTime"
SHARE_SCAN_GHZ = "Mem.ShareScanGHz"
SHARE_RATE_MAX = "Mem.ShareRateMax"
SHARE_FORCE_SALTING = "Mem.ShareForceSalting"

# Defaults and ranges as `esxcli system settings advanced list` reports them (DESIGN.md 4).
TPS_SETTINGS: dict[str, AdvancedSetting] = {
    setting.name: setting
    for setting in (
        AdvancedSetting(SHARE_SCAN_TIME, 60, 10, 600, "Minutes to scan each VM's memory once."),
        AdvancedSetting(SHARE_SCAN_GHZ, 4, 0, 32, "MB/s of page scanning per GHz of host CPU; 0 disables scanning."),
        AdvancedSetting(SHARE_RATE_MAX, 1024, 0, 32768, "Most pages scanned per second in one VM."),
        AdvancedSetting(SHARE_FORCE_SALTING, 2, 0, 2, "0: share across VMs; 1: by salt, unsalted VMs together; 2: by salt, else only inside a VM."),
    )
}


def default_settings() -> dict[str, int]:
    return {name: setting.default for name, setting in TPS_SETTINGS.items()}


def validate_settings(changes: dict) -> dict[str, int]:
    """The changes as ints, or EngineError naming the first bad one."""
    clean = {}
    for name, value in changes.items():
        setting = TPS_SETTINGS.get(name)
        if setting is None:
            raise EngineError(f"Unknown advanced setting {name!r}; known: {', '.join(TPS_SETTINGS)}.")
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise EngineError(f"{name} must be a whole number, not {value!r}.")
        if not setting.minimum <= value <= setting.maximum:
            raise EngineError(f"{name} must be between {setting.minimum} and {setting.maximum}, not {value}.")
        clean[name] = int(value)
    return clean


def scan_rates(pages_by_vm: dict[int, int], settings: dict[str, int], host_mhz: int) -> dict[int, float]:
    """Pages per second the scanner visits in each VM.

    Each VM is scanned once per Mem.ShareScanTime, at most Mem.ShareRateMax pages/s; when the sum
    exceeds Mem.ShareScanGHz MB/s per GHz of host CPU, all VMs are slowed down in proportion.
    """
    scan_time_s = settings[SHARE_SCAN_TIME] * 60
    rates = {vm: min(pages / scan_time_s, settings[SHARE_RATE_MAX]) for vm, pages in pages_by_vm.items()}
    host_budget = settings[SHARE_SCAN_GHZ] * host_mhz / 1000 * PAGES_PER_MB
    total = sum(rates.values())
    if total > host_budget:
        scale = host_budget / total
        rates = {vm: rate * scale for vm, rate in rates.items()}
    return rates


def sharing_domain_key(vm_id: int, salt: str | None, force_salting: int) -> tuple:
    """Which share table a VM uses, from its salt and Mem.ShareForceSalting at power-on."""
    if force_salting == 0:
        return ("host",)
    if salt is not None:
        return ("salt", salt)
    if force_salting == 1:
        return ("host",)
    return ("vm", vm_id)


# --------------------------------------------------------------------------- the share table

_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio (Knuth's multiplicative hashing)
_FINGERPRINT_SHIFT = np.uint64(24)  # fingerprint: bits 24-31 of the hash (the slot uses the top bits)
EMPTY = -1
TOMBSTONE = -2
MIN_CAPACITY = 1024  # slots; capacities are powers of two
MAX_LOAD = 0.75  # slots in use (entries + tombstones) before the table is rebuilt


class ShareTable:
    """Hash table of machine frames keyed by their content: shared frames and hints.

    Open addressing over int32 slots holding frame numbers, probed quadratically (slot, +1, +3,
    +6, ...), with a one-byte fingerprint of the key per slot so that most probes of a slot holding
    another key are rejected without reading that frame's content; the key of an entry is its
    frame's content, `content[frame]`. Lookups, inserts and removals work on whole batches, one
    probe per round. About 9 bytes per entry at the average load. A group domain's table also has a
    `tags` slot per entry: the member that owns a hint, or the row of a shared frame.
    """

    def __init__(self, content: np.ndarray, tagged: bool, capacity: int = MIN_CAPACITY):
        self._content = content
        self._allocate(capacity, tagged)
        self.live = 0
        self.tombstones = 0

    def _allocate(self, capacity: int, tagged: bool) -> None:
        self.slots = np.full(capacity, EMPTY, np.int32)
        self.fingerprints = np.zeros(capacity, np.uint8)
        self.tags = np.zeros(capacity, np.int32) if tagged else None
        self._shift = np.uint64(64 - capacity.bit_length() + 1)

    @property
    def nbytes(self) -> int:
        return self.slots.nbytes + self.fingerprints.nbytes + (self.tags.nbytes if self.tags is not None else 0)

    def _hash(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(home slot, fingerprint) of each key."""
        mixed = keys * _FIBONACCI
        return (mixed >> self._shift).astype(np.int64), (mixed >> _FINGERPRINT_SHIFT).astype(np.uint8)

    def find_or_insert(self, keys: np.ndarray, frames: np.ndarray, tag: int) -> np.ndarray:
        """For each (key, frame): the frame the table holds for that key.

        Keys not in the table are inserted with their frame (and `tag`), one of equal keys in the
        batch winning; the frames of the batch must be distinct.
        """
        self._make_room(keys.size)
        slots, fingerprints, content = self.slots, self.fingerprints, self._content
        mask = slots.size - 1
        home, fingerprint = self._hash(keys)
        resident = frames.copy()
        # Round one runs on the whole batch without index arrays; later rounds on what is left.
        which = np.arange(keys.size)
        position, probe = home, np.zeros(keys.size, np.int64)
        mine, my_print, my_keys = frames, fingerprint, keys
        while True:
            held = slots[position]
            empty = held == EMPTY
            done = held == mine  # already in the table: a hint or a shared frame
            maybe = (fingerprints[position] == my_print) & (held >= 0) & ~done
            if maybe.any():
                at = np.flatnonzero(maybe)
                same = content[held[at]] == my_keys[at]
                resident[which[at[same]]] = held[at[same]]
                done[at[same]] = True
            retry = np.zeros(0, np.int64)
            if empty.any():
                at = np.flatnonzero(empty)
                where = position[at]
                slots[where] = mine[at]
                won = slots[where] == mine[at]  # of several claims on one slot the last write stays
                fingerprints[where[won]] = my_print[at[won]]
                if self.tags is not None:
                    self.tags[where[won]] = tag
                self.live += int(np.count_nonzero(won))
                done[at] = True
                retry = at[~won]  # losers look at the same slot again: it may hold their key now
            advance = np.flatnonzero(~done)
            if not advance.size and not retry.size:
                return resident
            probe = np.concatenate([probe[retry], probe[advance] + 1])
            position = np.concatenate([position[retry], (position[advance] + probe[retry.size :]) & mask])
            keep = np.concatenate([retry, advance])
            which, mine, my_print, my_keys = which[keep], mine[keep], my_print[keep], my_keys[keep]

    def locate(self, frames: np.ndarray) -> np.ndarray:
        """The slot of each frame's entry, or -1 where the frame has none."""
        found = np.full(frames.size, -1, np.int64)
        if not self.live or not frames.size:
            return found
        slots, mask = self.slots, self.slots.size - 1
        which = np.arange(frames.size)
        position, _ = self._hash(self._content[frames])
        probe = np.zeros(frames.size, np.int64)
        mine = frames
        while which.size:
            held = slots[position]
            hit = held == mine
            found[which[hit]] = position[hit]
            go_on = np.flatnonzero(~hit & (held != EMPTY))
            probe = probe[go_on] + 1
            position = (position[go_on] + probe) & mask
            which, mine = which[go_on], mine[go_on]
        return found

    def remove_at(self, positions: np.ndarray) -> None:
        self.slots[positions] = TOMBSTONE
        self.live -= positions.size
        self.tombstones += positions.size

    def remove(self, frames: np.ndarray) -> None:
        """Drop the entries of these frames, where they have one."""
        at = self.locate(frames)
        self.remove_at(at[at >= 0])

    def clear(self) -> None:
        self._allocate(MIN_CAPACITY, self.tags is not None)
        self.live = self.tombstones = 0

    def compact(self) -> None:
        """Rebuild smaller once mostly empty, or to sweep tombstones; slots move, so only at the end of an operation."""
        if self.slots.size > MIN_CAPACITY and (self.live < MAX_LOAD * self.slots.size / 8 or self.tombstones > self.slots.size / 4):
            self._rebuild(self._capacity_for(self.live))

    @staticmethod
    def _capacity_for(entries: int) -> int:
        capacity = MIN_CAPACITY
        while entries > MAX_LOAD * capacity / 2:  # room to double before the next rebuild
            capacity *= 2
        return capacity

    def _make_room(self, n: int) -> None:
        if self.live + self.tombstones + n > MAX_LOAD * self.slots.size:
            self._rebuild(self._capacity_for(self.live + n))

    def _rebuild(self, capacity: int) -> None:
        held = np.flatnonzero(self.slots >= 0)
        frames = self.slots[held]
        tags = self.tags[held] if self.tags is not None else None
        self._allocate(capacity, tags is not None)
        self.tombstones = 0
        # Re-place entries; keys are distinct, so a taken slot always means "probe further".
        mask = capacity - 1
        which = np.arange(frames.size)
        position, fingerprint = self._hash(self._content[frames])
        probe = np.zeros(frames.size, np.int64)
        while which.size:
            free = np.flatnonzero(self.slots[position] == EMPTY)
            where = position[free]
            self.slots[where] = frames[which[free]]
            won = self.slots[where] == frames[which[free]]
            self.fingerprints[where[won]] = fingerprint[which[free[won]]]
            if tags is not None:
                self.tags[where[won]] = tags[which[free[won]]]
            retry = free[~won]
            taken = np.flatnonzero(self.slots[position] != frames[which])
            taken = np.setdiff1d(taken, retry, assume_unique=True)
            probe = np.concatenate([probe[retry], probe[taken] + 1])
            position = np.concatenate([position[retry], (position[taken] + probe[retry.size :]) & mask])
            which = np.concatenate([which[retry], which[taken]])

    def to_state(self) -> dict:
        return {
            "slots": self.slots,
            "fingerprints": self.fingerprints,
            "tags": self.tags,
            "live": self.live,
            "tombstones": self.tombstones,
        }

    @classmethod
    def from_state(cls, state: dict, content: np.ndarray) -> "ShareTable":
        table = cls.__new__(cls)
        table._content = content
        table.slots = state["slots"]
        table.fingerprints = state["fingerprints"]
        table.tags = state["tags"]
        table._shift = np.uint64(64 - table.slots.size.bit_length() + 1)
        table.live = state["live"]
        table.tombstones = state["tombstones"]
        return table


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
        self.table = ShareTable(machine.content, tagged=self.group)
        self.rows = RowStore() if self.group else None
        self.members: dict[int, object] = {}

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

    def scan(self, vm, pages: np.ndarray) -> int:
        """Visit `pages` of `vm`: share those whose content the table holds, hint the others.

        Returns the number of pages newly shared.
        """
        machine = self.machine
        frames = vm.pmap[pages]
        candidate = frames >= 0
        candidate[candidate] = machine.refcount[frames[candidate]] == 1  # shared ones are done
        pages, frames = pages[candidate], frames[candidate]
        if not pages.size:
            return 0
        resident, where = self.table.find_or_insert(machine.content[frames], frames, vm.share_col)
        match = resident != frames
        matched = int(np.count_nonzero(match))
        if not matched:
            return 0
        vm.pmap[pages[match]] = resident[match]
        machine.release(frames[match])  # the redundant copies
        vm.consumed -= matched
        slots, joining = group_counts(where[match])
        targets = self.table.slots[slots]
        old = machine.refcount[targets]
        if self.group:
            self._change_refs(vm, targets, slots, old, self._rows_of(targets, slots, old), joining)
        else:
            machine.refcount[targets] = old + joining
            became_shared = old == 1
            now_shared = joining + became_shared  # the joining pages, and a resident page no longer alone
            zero = machine.content[targets] == 0
            vm.shared += int(now_shared.sum())
            vm.zero += int(now_shared[zero].sum())
            machine.shared_frames += int(np.count_nonzero(became_shared))
        return matched

    # ------------------------------------------------------------------ pages leaving frames

    def forget(self, frames: np.ndarray) -> None:
        """Private frames are about to be rewritten in place: drop their entries (hints)."""
        if self.table.live:
            self.table.remove(frames)

    def drop_refs(self, vm, frames: np.ndarray, counts: np.ndarray) -> None:
        """`counts[i]` pages of `vm` stopped mapping shared frame `frames[i]` (distinct frames).

        Frames nobody maps any more are freed; a frame left with one page stays in the table as a
        hint, and that page is no longer shared.
        """
        machine = self.machine
        if self.group:
            slots = self.table.locate(frames)
            old = machine.refcount[frames]
            self._change_refs(vm, frames, slots, old, self._rows_of(frames, slots, old), -counts)
            return
        old = machine.refcount[frames]
        new = old - counts
        machine.refcount[frames] = new
        unshared = old - np.where(new >= 2, new, 0)  # the leaving pages, and a page left alone
        zero = machine.content[frames] == 0
        vm.shared -= int(unshared.sum())
        vm.zero -= int(unshared[zero].sum())
        machine.shared_frames -= int(np.count_nonzero(new < 2))
        dead = frames[new == 0]
        if dead.size:
            self.table.remove(dead)
            machine.release(dead)
            vm.consumed -= dead.size

    def release_vm(self, vm) -> None:
        """Power-off: every frame `vm` maps loses that reference; the VM's counters end at zero."""
        machine = self.machine
        frames = vm.pmap[vm.pmap >= 0]
        refs = machine.refcount[frames]
        private = frames[refs == 1]
        if self.group:
            self.table.remove(private)
            machine.release(private)
            shared, counts = group_counts(frames[refs >= 2])
            for start in range(0, shared.size, _ROWS_PER_CHUNK // max(1, self.rows.width)):
                stop = start + _ROWS_PER_CHUNK // max(1, self.rows.width)
                self.drop_refs(vm, shared[start:stop], counts[start:stop])
            self.table.compact()
        else:
            shared = distinct(frames[refs >= 2])  # every reference to them is this VM's
            machine.release(private)
            machine.release(shared)
            machine.shared_frames -= shared.size
            self.table.clear()

    def _shared_pages_of(self, vm) -> tuple[np.ndarray, np.ndarray]:
        machine = self.machine
        pages = np.flatnonzero(vm.pmap >= 0)
        frames = vm.pmap[pages]
        shared = machine.refcount[frames] >= 2
        return pages[shared], frames[shared]

    def unshare_cost(self, vm) -> int:
        """Frames that private copies of all of `vm`'s shared pages take, net of the frames freed."""
        pages, frames = self._shared_pages_of(vm)
        distinct_frames, counts = group_counts(frames)
        return pages.size - int(np.count_nonzero(self.machine.refcount[distinct_frames] == counts))

    def unshare_vm(self, vm) -> None:
        """Give every shared page of `vm` a private copy and drop its hints (page sharing turned off).

        The caller checked `unshare_cost` against the free frames.
        """
        machine = self.machine
        pages, frames = self._shared_pages_of(vm)
        distinct_frames, counts = group_counts(frames)
        contents = machine.content[frames]
        step = _ROWS_PER_CHUNK // max(1, self.rows.width) if self.group else distinct_frames.size + 1
        for start in range(0, distinct_frames.size, step):
            self.drop_refs(vm, distinct_frames[start : start + step], counts[start : start + step])
        copies = machine.take(pages.size)
        machine.content[copies] = contents
        vm.pmap[pages] = copies
        vm.consumed += pages.size
        if self.group:
            self.table.remove(vm.pmap[vm.pmap >= 0])
            self.table.compact()
        else:
            self.table.clear()

    # ------------------------------------------------------------------ group accounting

    def _rows_of(self, frames: np.ndarray, slots: np.ndarray, refs: np.ndarray) -> np.ndarray:
        """Per-member references of each frame: a stored row if shared, else its one owner."""
        rows = np.zeros((frames.size, self.rows.width), np.int32)
        tags = self.table.tags[slots]
        alone = refs == 1
        rows[np.flatnonzero(alone), tags[alone]] = 1
        rows[~alone] = self.rows.data[tags[~alone]]
        return rows

    def _change_refs(self, vm, frames, slots, old, rows_old, delta) -> None:
        """`vm`'s references to `frames` change by `delta`; re-divide each frame's charge."""
        machine, tags = self.machine, self.table.tags
        new = old + delta
        rows_new = rows_old.copy()
        rows_new[:, vm.share_col] += delta.astype(np.int32)
        machine.refcount[frames] = new
        moved = rows_new * (new >= 2)[:, None] - rows_old * (old >= 2)[:, None]
        zero = machine.content[frames] == 0
        shared_delta = moved.sum(axis=0)
        zero_delta = moved[zero].sum(axis=0)
        charge_delta = (rows_new / np.maximum(new, 1)[:, None]).sum(axis=0) - (rows_old / old[:, None]).sum(axis=0)
        for col, member in self.members.items():
            member.shared += int(shared_delta[col])
            member.zero += int(zero_delta[col])
            member.consumed += float(charge_delta[col])
        machine.shared_frames += int(np.count_nonzero(new >= 2)) - int(np.count_nonzero(old >= 2))
        became = (old < 2) & (new >= 2)
        if became.any():
            ids = self.rows.allocate(int(np.count_nonzero(became)))
            self.rows.data[ids] = rows_new[became]
            tags[slots[became]] = ids
        stays = (old >= 2) & (new >= 2)
        if stays.any():
            self.rows.data[tags[slots[stays]]] = rows_new[stays]
        ended = (old >= 2) & (new < 2)
        if ended.any():
            self.rows.release(tags[slots[ended]])
        alone = ended & (new == 1)
        if alone.any():
            tags[slots[alone]] = np.argmax(rows_new[alone], axis=1)  # the one member left
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
        domain.table = ShareTable.from_state(state["table"], machine.content)
        domain.rows = RowStore.from_state(state["rows"]) if state["rows"] is not None else None
        domain.members = {int(col): vms[vm_id] for col, vm_id in state["members"].items()}
        return domain


# --------------------------------------------------------------------------- scan order


class ScanCursor:
    """Where the scanner is in a VM: each pass visits every guest page once, in a fresh random order.

    The order is the affine permutation page(i) = (stride * i + offset) mod pages, redrawn per pass,
    so no per-page state is needed.
    """

    def __init__(self, pages: int, rng: np.random.Generator):
        self.pages = pages
        self.carry = 0.0  # fraction of a page of scan budget left over
        self._new_pass(rng)

    def _new_pass(self, rng: np.random.Generator) -> None:
        self.stride = coprime_stride(self.pages, rng)
        self.offset = int(rng.integers(self.pages))
        self.position = 0

    def take(self, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        """The next `n` pages to visit, as batches of distinct pages."""
        batches = []
        while n > 0:
            count = min(n, self.pages - self.position)
            steps = np.arange(self.position, self.position + count, dtype=np.int64)
            batches.append(((steps * self.stride + self.offset) % self.pages).astype(np.int32))
            self.position += count
            n -= count
            if self.position == self.pages:
                self._new_pass(rng)
        return batches

    def to_state(self) -> dict:
        return {"carry": self.carry, "stride": self.stride, "offset": self.offset, "position": self.position}

    @classmethod
    def from_state(cls, state: dict, pages: int) -> "ScanCursor":
        cursor = cls.__new__(cls)
        cursor.pages = pages
        for name in ("carry", "stride", "offset", "position"):
            setattr(cursor, name, state[name])
        return cursor
