"""The share table: machine frames keyed by their content, for transparent page sharing.

Waldspurger 2002 section 4.3 keeps one hash table of "frames" for all scanned pages: shared
frames and hints. Ours holds the frame number only; an entry's key is the content of its frame.
"""

import math
import sys

import numpy as np

from hostsim.engine.machine import MachineMemory

_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio (Knuth's multiplicative hashing)
# The fingerprint is bits 24-31 of the hash (the slot comes from its top bits): byte 3 of the
# uint64.
_FINGERPRINT_BYTE = 3 if sys.byteorder == "little" else 4
_MIN_ROOM = 4096  # free slots a table makes before inserting more
_ZERO_BATCH = 64  # zero pages in a batch worth looking up apart from the rest
# Most a table is filled right after growing, so growth is not needed again at once
_GROWN_LOAD = 0.6
_WIDE_PROBES = (4, 16)  # slots each remaining query examines per round after the first, then later
EMPTY = -1
TOMBSTONE = -2
MIN_CAPACITY = 1024  # slots; capacities are powers of two
MAX_LOAD = 0.75  # slots in use (entries + tombstones) before the table is rebuilt


class ShareTable:
    """Hash table of machine frames keyed by their content: shared frames and hints.

    Which frames have an entry is known to the pmaps (`vmm.LISTED`), not to the table: callers
    only look up frames that have none, and only remove frames that have one.

    Open addressing over int32 slots holding frame numbers, probed quadratically (slot, +1, +3,
    +6, ...), with a one-byte fingerprint of the key per slot so that most probes of a slot holding
    another key are rejected without reading that frame's content; the key of an entry is its
    frame's content, `content[frame]`. Lookups, inserts and removals work on whole batches, one
    probe per round; a removal finds its entry's slot in `machine.entry_slot` without probing.
    About 9 bytes per entry at the average load. A group domain's table also has a `tags` slot
    per entry: the member that owns a hint, or the row of a shared frame.
    """

    def __init__(self, machine: MachineMemory, tagged: bool, capacity: int = MIN_CAPACITY):
        self._content = machine.content
        self._entry = machine.entry_slot
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
        return (
            self.slots.nbytes
            + self.fingerprints.nbytes
            + (self.tags.nbytes if self.tags is not None else 0)
        )

    def _hash(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(home slot, fingerprint) of each key: the top bits and byte 3 of key * 2**64/phi."""
        mixed = keys * _FIBONACCI
        fingerprint = mixed.view(np.uint8)[_FINGERPRINT_BYTE::8].copy()
        np.right_shift(mixed, self._shift, out=mixed)
        return mixed.view(np.int64), fingerprint

    def find_or_insert(
        self, keys: np.ndarray, frames: np.ndarray, tag: int | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Look each (key, frame) up; insert the keys the table lacks, with their frame (and `tag`:
        one for the batch, or one per key).

        The frames must be distinct and have no entry yet. Returns (i, resident): the batch
        positions i whose key the table holds under another frame, and that frame; every other
        frame of the batch is now in the table. Of equal keys in the batch one is inserted and the
        others are returned with it. Large batches go in parts that fit the table's free room.
        """
        found, resident = [], []
        tags = tag if isinstance(tag, np.ndarray) else np.full(keys.size, tag, np.int32)
        zero = keys == 0
        back = None
        if np.count_nonzero(zero) >= _ZERO_BATCH:
            # Zero pages are by far the most repeated content (a Windows guest zeroes all of its
            # memory): look the zero key up once and match the batch's other zero pages to it.
            zero_at = zero.nonzero()[0]
            first, holders = self._find_or_insert(
                keys[zero_at[:1]], frames[zero_at[:1]], tags[zero_at[:1]]
            )
            zero_frame = holders[0] if first.size else frames[zero_at[0]]
            match = zero_at.compress(frames.compress(zero) != zero_frame)
            found.append(match)
            resident.append(np.full(match.size, zero_frame, np.int32))
            other = ~zero
            back = other.nonzero()[0]
            keys, frames, tags = keys.compress(other), frames.compress(other), tags.compress(other)
        start = inserted = 0
        while start < keys.size:
            room = int(MAX_LOAD * self.slots.size) - self.live - self.tombstones
            left = keys.size - start
            if room < min(left, _MIN_ROOM):
                # Grow for what this batch has been inserting so far (a little, before anything
                # is known).
                expected = math.ceil(left * inserted / start) if start else _MIN_ROOM
                self._grow(min(left, max(_MIN_ROOM, expected)))
                continue
            stop = start + min(room, left)
            live = self.live
            part, holders = self._find_or_insert(
                keys[start:stop], frames[start:stop], tags[start:stop]
            )
            found.append(part + start if back is None else back[part + start])
            resident.append(holders)
            inserted += self.live - live
            start = stop
        if len(found) == 1:
            return found[0], resident[0]
        return np.concatenate(found or [np.zeros(0, np.int64)]), np.concatenate(
            resident or [np.zeros(0, np.int32)]
        )

    def _find_or_insert(
        self, keys: np.ndarray, frames: np.ndarray, tags: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        slots, fingerprints, content = self.slots, self.fingerprints, self._content
        position, fingerprint = self._hash(keys)
        found, resident = [], []
        # Round one looks at every query's home slot, on the whole batch at once.
        held = slots[position]
        empty = held == EMPTY
        retry = np.zeros(0, np.int64)
        if empty.any():
            # (.compress and .nonzero, not boolean indexing or np.flatnonzero: several times
            # faster.)
            where, claimant = position.compress(empty), frames.compress(empty)
            claimed = empty.nonzero()[0]
            retry = self._claim(
                where, claimant, claimed, fingerprint.compress(empty), tags.compress(empty)
            )
        other = (~empty).nonzero()[0]  # the slot holds another entry, or a tombstone
        if other.size:
            candidate = (held[other] >= 0) & (fingerprints[position[other]] == fingerprint[other])
            check = candidate.nonzero()[0]
            if check.size:
                query = other[check]
                equal = content[held[query]] == keys[query]
                hit = query.compress(equal)
                found.append(hit)
                resident.append(held[hit])
                candidate[check.compress(~equal)] = False  # now: found
                other = other.compress(~candidate)
        # Later rounds look several probe positions ahead at once, so the few queries left in
        # long probe sequences take a few rounds rather than one each.
        which = np.concatenate([retry, other])
        probe = np.concatenate([np.zeros(retry.size, np.int64), np.ones(other.size, np.int64)])
        position = np.concatenate([position[retry], (position[other] + 1) & (slots.size - 1)])
        width = _WIDE_PROBES[0]
        while which.size:
            positions = self._ahead(position, probe, width)
            held = slots[positions]
            empty = held == EMPTY
            same_key = (held >= 0) & (fingerprints[positions] == fingerprint[which][:, None])
            if same_key.any():
                row, col = same_key.nonzero()
                same_key[row, col] = content[held[row, col]] == keys[which[row]]
            event = empty | same_key
            first = event.argmax(axis=1)
            rows = np.arange(which.size)
            at = positions[rows, first]
            stopped = event[rows, first]
            hit = (stopped & same_key[rows, first]).nonzero()[0]
            found.append(which[hit])
            resident.append(held[hit, first[hit]])
            claim = (stopped & empty[rows, first]).nonzero()[0]
            lost = claim[:0]
            if claim.size:
                claimants = which[claim]
                lost = claim[
                    self._claim(
                        at[claim],
                        frames[claimants],
                        np.arange(claim.size),
                        fingerprint[claimants],
                        tags[claimants],
                    )
                ]
            going = (~stopped).nonzero()[0]
            probe = np.concatenate([probe[lost] + first[lost], probe[going] + width])
            position = np.concatenate(
                [at[lost], (positions[going, width - 1] + probe[lost.size :]) & (slots.size - 1)]
            )
            which = np.concatenate([which[lost], which[going]])
            width = _WIDE_PROBES[1]
        if len(found) == 1:
            return found[0], resident[0]
        return np.concatenate(found or [np.zeros(0, np.int64)]), np.concatenate(
            resident or [np.zeros(0, np.int32)]
        )

    def _claim(self, where, claimant, claimed, prints, tags) -> np.ndarray:
        """Write `claimant` frames into the empty slots `where`; returns the entries of `claimed`
        that lost.

        Of several claims on one slot the last write stays; the losers look at that slot again,
        which may now hold their own key.
        """
        slots = self.slots
        slots[where] = claimant
        won = slots[where] == claimant
        if not won.all():
            lost = claimed.compress(~won)
            where, claimant, prints, tags = (
                where.compress(won),
                claimant.compress(won),
                prints.compress(won),
                tags.compress(won),
            )
        else:
            lost = claimed[:0]
        self.fingerprints[where] = prints
        self._entry[claimant] = where
        if self.tags is not None:
            self.tags[where] = tags
        self.live += where.size
        return lost

    def _ahead(self, position: np.ndarray, probe: np.ndarray, width: int) -> np.ndarray:
        """The next `width` slots of each probe sequence: rows of (slot at probe k, k + 1, ...)."""
        positions = np.empty((position.size, width), np.int64)
        positions[:, 0] = position
        if width > 1:
            # slot(k + j) = slot(k) + (k+1) + ... + (k+j)
            steps = (probe[:, None] + np.arange(1, width)).cumsum(axis=1)
            positions[:, 1:] = (position[:, None] + steps) & (self.slots.size - 1)
        return positions

    def locate(self, frames: np.ndarray) -> np.ndarray:
        """The slot of each frame's entry; every frame must have one."""
        return self._entry[frames]

    def find(self, frames: np.ndarray) -> np.ndarray:
        """The slot of each frame's entry, found the way a lookup of its content finds it, by
        probing from its key's home slot (`audit`: every entry can be found); every frame must
        have one.
        """
        found = np.empty(frames.size, np.int64)
        if not frames.size:
            return found
        slots = self.slots
        position, _ = self._hash(self._content[frames])
        hit = slots[position] == frames
        found[hit.nonzero()[0]] = position.compress(hit)
        which = (~hit).nonzero()[0]
        probe = np.ones(which.size, np.int64)
        position = (position[which] + 1) & (slots.size - 1)
        width = _WIDE_PROBES[0]
        while which.size:
            positions = self._ahead(position, probe, width)
            match = slots[positions] == frames[which][:, None]
            first = match.argmax(axis=1)
            rows = np.arange(which.size)
            done = match[rows, first]
            found[which.compress(done)] = positions[rows, first].compress(done)
            going = (~done).nonzero()[0]
            probe = probe[going] + width
            position = (positions[going, width - 1] + probe) & (slots.size - 1)
            which = which[going]
            width = _WIDE_PROBES[1]
        return found

    def remove_at(self, positions: np.ndarray) -> None:
        self.slots[positions] = TOMBSTONE
        self.live -= positions.size
        self.tombstones += positions.size

    def remove(self, frames: np.ndarray) -> None:
        """Drop the entries of these frames; every frame must have one."""
        if frames.size:
            self.remove_at(self.locate(frames))

    def clear(self) -> None:
        self._allocate(MIN_CAPACITY, self.tags is not None)
        self.live = self.tombstones = 0

    def compact(self) -> None:
        """Rebuild smaller once mostly empty, or to sweep tombstones.

        Slots move, so only at the end of an operation, never while slot numbers are held.
        """
        capacity = self.slots.size
        if capacity > MIN_CAPACITY and (self.live < capacity / 8 or self.tombstones > capacity / 4):
            while capacity > MIN_CAPACITY and self.live < capacity / 4:
                capacity //= 2
            self._rebuild(capacity)

    def _grow(self, wanted: int) -> None:
        """Make room for `wanted` more entries: sweep tombstones, double until they fit with room
        to spare."""
        capacity = self.slots.size
        while self.live + wanted > _GROWN_LOAD * capacity:
            capacity *= 2
        self._rebuild(capacity)

    def _rebuild(self, capacity: int) -> None:
        held = (self.slots >= 0).nonzero()[0]
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
            free = (self.slots[position] == EMPTY).nonzero()[0]
            where, placing = position[free], which[free]
            self.slots[where] = frames[placing]
            won = self.slots[where] == frames[placing]
            where, placing = where.compress(won), placing.compress(won)
            self.fingerprints[where] = fingerprint[placing]
            self._entry[frames[placing]] = where
            if tags is not None and self.tags is not None:  # re-allocated tagged when tags held
                self.tags[where] = tags[placing]
            advance = (self.slots[position] != frames[which]).nonzero()[0]  # not placed yet
            probe = probe[advance] + 1
            position = (position[advance] + probe) & mask
            which = which[advance]

    def to_state(self) -> dict:
        return {
            "slots": self.slots,
            "fingerprints": self.fingerprints,
            "tags": self.tags,
            "live": self.live,
            "tombstones": self.tombstones,
        }

    @classmethod
    def from_state(cls, state: dict, machine: MachineMemory) -> "ShareTable":
        table = cls.__new__(cls)
        table._content = machine.content
        table._entry = machine.entry_slot
        table.slots = state["slots"]
        table.fingerprints = state["fingerprints"]
        table.tags = state["tags"]
        table._shift = np.uint64(64 - table.slots.size.bit_length() + 1)
        table.live = state["live"]
        table.tombstones = state["tombstones"]
        held = (table.slots >= 0).nonzero()[0]
        table._entry[table.slots[held]] = held
        return table
