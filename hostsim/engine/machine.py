"""Machine memory: the host's frames, what each holds, how many guest pages map it, which are free.

Each machine frame has a content id (uint64; 0 is the zero page, see `content`), a reference
count (int32: the number of guest pages whose pmap entry points at it) and the slot of the VM
that took it (uint16, `owner`, for the host's memory map: a frame shared across VMs keeps the
first taker's slot), whose top bit, `LARGE_OWNER`, marks a frame backing part of a 2 MB large
page (`vmm`: such a frame is never shared). Free frames are handed out in a seeded
pseudo-random order of short runs (`RUN` frames, 256 KB: `run_order`), so the frames of different
VMs are interleaved in machine memory and never contiguous per VM (DESIGN.md 4). Frames freed
later are reused first (LIFO), which keeps the list of released frames no longer than what was
actually released.

VMkernel memory and per-VM overhead are not modelled page by page: they are a count of frames
`reserved` out of the same total; so are the frames of the VMs' compression caches (`zip_frames`).
Machine memory closes exactly: frames = free + in use (guest pages) + reserved + zip_frames, and
host consumed = frames - free.
"""

import math

import numpy as np

PAGE_SIZE_KB = 4  # the unit of guest memory: a 4 KiB small page
PAGES_PER_MB = 1024 // PAGE_SIZE_KB
LARGE_PAGE_PAGES = 512  # an x86-64 2 MB large page spans 512 small pages (`vmm`)
LARGE_OWNER = np.uint16(1 << 15)  # owner bit: the frame backs a sub-page of a large page
OWNER_SLOT = np.uint16(LARGE_OWNER - 1)  # the owner's slot bits (VM slots stay below 32768)
_MERGE_BELOW = 4096  # frames: small releases are merged into the stack's last chunk


# pmap entries (one int32 per guest page, `vmm`): the frame number, plus the LISTED bit while the
# frame has an entry in the share table (a hint or a shared frame), so that writes and the scanner
# know that without looking anywhere else; or, for a page without a frame, one of
#   UNMAPPED   never touched since power-on (or handed back by the balloon): no content
#   BALLOONED  held by the guest's balloon driver: no content
#   <= SLOT_BASE  swapped or compressed: its content is in slot SLOT_BASE - entry (`reclaim`)
UNMAPPED = -1
BALLOONED = -2
SLOT_BASE = -3
LISTED = np.int32(1 << 30)
FRAME = np.int32(LISTED - 1)  # the frame-number bits: frames stay below 2**30 (4 TiB of memory)


RUN = 64  # pages or frames (256 KB) that the engine's seeded orders visit in a row: `run_order`


def mb_to_pages(mb: float) -> int:
    return int(round(mb * PAGES_PER_MB))


class MachineMemory:
    def __init__(self, frames: int, rng: np.random.Generator):
        self.frames = frames
        self.content = np.zeros(frames, np.uint64)
        self.refcount = np.zeros(frames, np.int32)
        self.owner = np.zeros(frames, np.uint16)
        # The share-table slot of each listed frame's entry (`share_table`; a frame is listed in
        # at most one table). Meaningless for other frames; not saved: restored tables refill it.
        self.entry_slot = np.zeros(frames, np.int32)
        self.in_use = 0  # frames with refcount >= 1
        self.shared_frames = 0  # frames with refcount >= 2 ("shared common")
        self.reserved = 0  # VMkernel and VM overhead, in frames
        self.zip_frames = 0  # frames holding the VMs' compression caches
        self._released = FrameStack()
        # Frames never handed out yet, in `run_order`, so no free list of every frame is stored.
        # Runs rather than single frames keep the pages a guest touches together near each other
        # in the frame arrays: writing their content scatters over a few cache lines instead of
        # one each (the write path is about 4% faster on the demo host), and no counter depends on
        # which frame a page gets.
        self._fresh_run = run_length(frames)
        self._fresh_next = 0
        self._fresh_stride = coprime_stride(frames // self._fresh_run, rng)
        self._fresh_offset = int(rng.integers(frames // self._fresh_run))

    @property
    def free(self) -> int:
        return self.frames - self.in_use - self.reserved - self.zip_frames

    def take(self, n: int, owner: int) -> np.ndarray:
        """`n` free frames (the caller checked `free`) for the VM in slot `owner`, zeroed, each
        with one reference.

        ESX Server zeroes newly allocated machine pages so nothing leaks between VMs
        (Waldspurger 2002, footnote 2).
        """
        if n > self.free:
            raise RuntimeError(f"asked for {n} frames with only {self.free} free")
        reused = self._released.pop_newest(n)
        fresh = n - reused.size
        if fresh:
            k = np.arange(self._fresh_next, self._fresh_next + fresh, dtype=np.int64)
            self._fresh_next += fresh
            fresh_frames = run_order(
                k, self._fresh_run, self._fresh_stride, self._fresh_offset, self.frames
            )
            frames = np.concatenate([reused, fresh_frames]) if reused.size else fresh_frames
        else:
            frames = reused
        self.content[frames] = 0
        self.refcount[frames] = 1
        self.owner[frames] = owner
        self.in_use += n
        return frames

    def release(self, frames: np.ndarray) -> None:
        """Give back frames nothing maps any more (their reference count already reached 0)."""
        if not len(frames):
            return
        self.refcount[frames] = 0
        self._released.push(frames)
        self.in_use -= len(frames)

    @property
    def nbytes(self) -> int:
        return (
            self.content.nbytes
            + self.refcount.nbytes
            + self.owner.nbytes
            + self.entry_slot.nbytes
            + self._released.nbytes
        )

    def to_state(self) -> dict:
        return {
            "frames": self.frames,
            "content": self.content,
            "refcount": self.refcount,
            "owner": self.owner,
            "in_use": self.in_use,
            "shared_frames": self.shared_frames,
            "reserved": self.reserved,
            "zip_frames": self.zip_frames,
            "released": self._released.all(),
            "fresh": [self._fresh_next, self._fresh_stride, self._fresh_offset, self._fresh_run],
        }

    @classmethod
    def from_state(cls, state: dict) -> "MachineMemory":
        machine = cls.__new__(cls)
        machine.frames = state["frames"]
        machine.content = state["content"]
        machine.refcount = state["refcount"]
        machine.owner = state["owner"]
        machine.entry_slot = np.zeros(machine.frames, np.int32)
        machine.in_use = state["in_use"]
        machine.shared_frames = state["shared_frames"]
        machine.reserved = state["reserved"]
        machine.zip_frames = state["zip_frames"]
        machine._released = FrameStack(state["released"])
        # Snapshots from before runs handed out single frames: they go on in that order.
        machine._fresh_next, machine._fresh_stride, machine._fresh_offset, machine._fresh_run = (
            state["fresh"] + [1]
        )[:4]
        return machine


def run_length(n: int) -> int:
    """The run of a seeded order of n items: RUN, or the largest power of two below it that
    divides n (runs must tile the items exactly)."""
    run = RUN
    while n % run:
        run //= 2
    return run


def run_order(k: np.ndarray, run: int, stride: int, offset: int, n: int) -> np.ndarray:
    """Items number k (int64) of a seeded order of 0 .. n-1 that visits runs of `run` items in a
    row: item(k) = r(k // run) * run + k % run, where r(j) = (stride * j + offset) mod (n / run)
    is an affine bijection of the run numbers (`stride` coprime with n / run)."""
    shift = run.bit_length() - 1  # runs are powers of two: shifts and masks, not divisions
    runs = ((k >> shift) * stride + offset) % (n >> shift)
    return ((runs << shift) | (k & (run - 1))).astype(np.int32)


def coprime_stride(n: int, rng: np.random.Generator) -> int:
    """A random stride in the middle of [1, n) that is coprime with n (so k -> stride*k mod n is a
    bijection)."""
    if n <= 2:
        return 1
    stride = int(rng.integers(n // 4, 3 * n // 4)) | 1
    while math.gcd(stride, n) != 1:
        stride += 2
    return stride % n or 1


class FrameStack:
    """The released frames, newest on top, kept as the arrays they were released in.

    Frames are released in large bursts (a scan freeing duplicates, a power-off); keeping those
    arrays as chunks means a release never copies or regrows one big list.
    """

    def __init__(self, frames: np.ndarray | None = None):
        self._chunks: list[np.ndarray] = []
        self._size = 0
        if frames is not None and len(frames):
            self.push(np.asarray(frames, np.int32).copy())

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        return sum((chunk if chunk.base is None else chunk.base).nbytes for chunk in self._chunks)

    def push(self, frames: np.ndarray) -> None:
        """Take `frames` (the stack keeps the array: callers hand over arrays they own)."""
        if not len(frames):
            return
        frames = frames.astype(np.int32, copy=frames.base is not None or frames.dtype != np.int32)
        if self._chunks and self._chunks[-1].size < _MERGE_BELOW and frames.size < _MERGE_BELOW:
            self._chunks[-1] = np.concatenate([self._chunks[-1], frames])
        else:
            self._chunks.append(frames)
        self._size += frames.size

    def pop_newest(self, n: int) -> np.ndarray:
        taken = []
        while n > 0 and self._chunks:
            top = self._chunks[-1]
            if top.size <= n:
                taken.append(top[::-1])
                self._chunks.pop()
            else:
                taken.append(top[: top.size - n - 1 : -1])
                self._chunks[-1] = (
                    top[: top.size - n].copy()
                    if top.size - n < top.size // 4
                    else top[: top.size - n]
                )
            n -= taken[-1].size
            self._size -= taken[-1].size
        if not taken:
            return np.zeros(0, np.int32)
        return np.concatenate(taken) if len(taken) > 1 else taken[0].copy()

    def all(self) -> np.ndarray:
        """Every frame, oldest first."""
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int32)
