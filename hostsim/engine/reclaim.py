"""Where reclaimed guest pages go, and what getting them back costs (DESIGN.md 4b).

A page reclaimed by host swapping or compression keeps its content: ESXi writes it to the VM's
swap file or compresses it into the VM's compression cache (vSphere Resource Management, "Memory
Compression" and "Using Swap Files"). Both are a slot in the VM's `SlotStore`: the content id, the
guest page, and how many KB the compressed copy takes (0 for a page on disk). Its pmap entry points
at the slot (`machine.SLOT_BASE`). A ballooned page keeps nothing: the guest gave it away.

Compression (same guide): a page that would be swapped is compressed first; one that compresses
to 2 KB or less is kept in the cache, at 1 KB if it compresses to a quarter (ESXi stores such
pages in quarter-page slots), the others go to disk. How well a page compresses is a property of
its content, so identical pages compress alike: `compressed_kb`.
"""

import numpy as np

from hostsim.engine.content import is_unique
from hostsim.engine.machine import PAGE_SIZE_KB
from hostsim.engine.pagelist import PageList

# What waiting for a reclaimed page costs the vCPU that touched it (our choice: a swap file on an
# SSD-backed datastore, about 0.2 ms per random 4 KB read; swap-outs are batched, about half of
# that per page; decompression is far cheaper than a swap-in, vSphere Resource Management,
# "Memory Compression": about 20 us per page).
SWAP_IN_S = 200e-6
SWAP_OUT_S = 100e-6
DECOMPRESS_S = 20e-6
# The balloon driver inflates or deflates at most this fast (our choice; Waldspurger 2002,
# section 3.2: the driver polls the server once a second and limits its allocation rate so as not
# to stress the guest OS).
BALLOON_MB_PER_S = 32

ZIP_QUARTER_KB = 1  # a page that compresses to a quarter or less takes a 1 KB slot ...
ZIP_HALF_KB = 2  # ... one that compresses to a half or less a 2 KB slot; the rest go to disk
# Shares of pages compressing to a quarter / to a half or less (our choice): software images
# (code, libraries, text) compress well, data less so; a zero page compresses to almost nothing.
IMAGE_QUARTER, IMAGE_HALF = 0.25, 0.65
DATA_QUARTER, DATA_HALF = 0.10, 0.45

_MIX = np.uint64(0x9E3779B97F4A7C15)
_MIN_SLOTS = 1024
_GROWTH = 1.5


def compressed_kb(contents: np.ndarray) -> np.ndarray:
    """KB each page takes in a compression cache: 1, 2, or 0 if it compresses to more than 2 KB."""
    draw = ((contents * _MIX) >> np.uint64(40)).astype(np.float64) / float(1 << 24)
    data = is_unique(contents)
    quarter = np.where(data, DATA_QUARTER, IMAGE_QUARTER)
    half = np.where(data, DATA_HALF, IMAGE_HALF)
    kb = np.where(draw < quarter, ZIP_QUARTER_KB, np.where(draw < half, ZIP_HALF_KB, 0))
    kb[contents == 0] = ZIP_QUARTER_KB
    return kb.astype(np.int8)


class SlotStore:
    """The swapped and compressed pages of one VM: content, guest page and cache size per slot.

    A slot whose page is -1 is free. Free slots are reused newest first; the arrays grow by half
    when full and are compacted once mostly empty, so their size follows what is reclaimed.
    """

    def __init__(self):
        self.content = np.zeros(_MIN_SLOTS, np.uint64)
        self.page = np.full(_MIN_SLOTS, -1, np.int32)
        self.zip_kb = np.zeros(_MIN_SLOTS, np.int8)
        self._free = PageList()
        self.high = 0  # slots ever handed out since the last compaction
        self.count = 0  # slots in use

    @property
    def nbytes(self) -> int:
        return self.content.nbytes + self.page.nbytes + self.zip_kb.nbytes + self._free.nbytes

    def put(self, pages: np.ndarray, contents: np.ndarray, zip_kb: np.ndarray) -> np.ndarray:
        n = pages.size
        reused = self._free.pop_newest(n)
        fresh = n - reused.size
        if self.high + fresh > self.page.size:
            self._resize(max(_MIN_SLOTS, int((self.high + fresh) * _GROWTH)))
        slots = np.concatenate([reused, np.arange(self.high, self.high + fresh, dtype=np.int32)])
        self.high += fresh
        self.content[slots] = contents
        self.page[slots] = pages
        self.zip_kb[slots] = zip_kb
        self.count += n
        return slots

    def take(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Free the slots; returns their pages, contents and cache sizes."""
        taken = self.page[slots].copy(), self.content[slots].copy(), self.zip_kb[slots].copy()
        self.page[slots] = -1
        self.zip_kb[slots] = 0
        self._free.push(slots.astype(np.int32))
        self.count -= slots.size
        return taken

    def live(self) -> np.ndarray:
        return (self.page[: self.high] >= 0).nonzero()[0].astype(np.int32)

    def compact(self, pmap: np.ndarray, slot_base: int) -> None:
        """Renumber the slots densely once three quarters are free; the pmap follows."""
        if self.high <= _MIN_SLOTS or self.count * 4 > self.high:
            return
        live = self.live()
        content, page, zip_kb = self.content[live], self.page[live], self.zip_kb[live]
        self._resize(max(_MIN_SLOTS, int(live.size * _GROWTH)), keep=0)
        self.content[: live.size], self.page[: live.size] = content, page
        self.zip_kb[: live.size] = zip_kb
        self.high = live.size
        self._free = PageList()
        pmap[page] = slot_base - np.arange(live.size, dtype=np.int32)

    def _resize(self, capacity: int, keep: int | None = None) -> None:
        keep = self.high if keep is None else keep
        content = np.zeros(capacity, np.uint64)
        page = np.full(capacity, -1, np.int32)
        zip_kb = np.zeros(capacity, np.int8)
        content[:keep], page[:keep], zip_kb[:keep] = (
            self.content[:keep],
            self.page[:keep],
            self.zip_kb[:keep],
        )
        self.content, self.page, self.zip_kb = content, page, zip_kb

    def to_state(self) -> dict:
        return {
            "content": self.content[: self.high].copy(),
            "page": self.page[: self.high].copy(),
            "zip_kb": self.zip_kb[: self.high].copy(),
            "free": self._free.view().copy(),
            "count": self.count,
        }

    @classmethod
    def from_state(cls, state: dict) -> "SlotStore":
        store = cls()
        high = state["page"].size
        store._resize(max(_MIN_SLOTS, high), keep=0)
        store.content[:high] = state["content"]
        store.page[:high] = state["page"]
        store.zip_kb[:high] = state["zip_kb"]
        store.high = high
        store.count = state["count"]
        store._free = PageList(state["free"])
        return store


def cache_frames(zip_kb: int) -> int:
    """Machine frames a compression cache of `zip_kb` KB occupies."""
    return -(-zip_kb // PAGE_SIZE_KB)
