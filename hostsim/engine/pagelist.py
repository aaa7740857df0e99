"""A growable list of page or frame numbers, used as a stack or a queue.

Guest free lists, the pages each guest process holds and the host's list of released machine
frames are all `PageList`s: one int32 per entry, grown and shrunk geometrically so the memory
follows what is held (the engine budget is 32 bytes per guest page, DESIGN.md 4).
"""

import numpy as np

_MIN_CAPACITY = 64
_GROWTH = 1.5  # capacity factor when full: amortised O(1) appends, at most 50% slack
_SHRINK_BELOW = 0.25  # give memory back once less than a quarter of the capacity is used


class PageList:
    __slots__ = ("_data", "_head", "_tail", "_growth")

    def __init__(self, values: np.ndarray | None = None, growth: float = _GROWTH):
        self._growth = growth
        values = np.empty(0, np.int32) if values is None else np.asarray(values, np.int32)
        self._data = np.empty(max(_MIN_CAPACITY, values.size), np.int32)
        self._data[: values.size] = values
        self._head = 0
        self._tail = values.size

    def __len__(self) -> int:
        return self._tail - self._head

    @property
    def nbytes(self) -> int:
        return self._data.nbytes

    def view(self) -> np.ndarray:
        """The entries, oldest first; a view that is only valid until the list changes."""
        return self._data[self._head : self._tail]

    def push(self, values: np.ndarray) -> None:
        n = len(values)
        if not n:
            return
        self._reserve(n)
        self._data[self._tail : self._tail + n] = values
        self._tail += n

    def pop_newest(self, n: int) -> np.ndarray:
        """Remove and return up to `n` of the most recently pushed entries (stack order)."""
        n = min(n, len(self))
        taken = self._data[self._tail - n : self._tail][::-1].copy()
        self._tail -= n
        self._shrink()
        return taken

    def pop_oldest(self, n: int) -> np.ndarray:
        """Remove and return up to `n` of the oldest entries (queue order)."""
        n = min(n, len(self))
        taken = self._data[self._head : self._head + n].copy()
        self._head += n
        self._shrink()
        return taken

    def pop_all(self) -> np.ndarray:
        return self.pop_oldest(len(self))

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the entries where `mask` (over `view()`) is true, in their order."""
        kept = self.view().compress(mask)
        self._data[self._head : self._head + kept.size] = kept
        self._tail = self._head + kept.size
        self._shrink()

    def _reserve(self, n: int) -> None:
        if self._tail + n <= self._data.size:
            return
        size = len(self)
        capacity = self._data.size
        while size + n > capacity:
            capacity = int(capacity * self._growth) + 1
        if capacity == self._data.size:  # room enough once the consumed head is reclaimed
            self._data[:size] = self._data[self._head : self._tail]
        else:
            data = np.empty(capacity, np.int32)
            data[:size] = self._data[self._head : self._tail]
            self._data = data
        self._head, self._tail = 0, size

    def _shrink(self) -> None:
        size = len(self)
        if self._data.size > _MIN_CAPACITY and size < self._data.size * _SHRINK_BELOW:
            data = np.empty(max(_MIN_CAPACITY, 2 * size), np.int32)
            data[:size] = self._data[self._head : self._tail]
            self._data = data
            self._head, self._tail = 0, size
