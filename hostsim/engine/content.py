"""Page contents as 64-bit content ids.

A real page holds 4 KiB of bytes; the engine keeps one id per page that stands for those bytes, so
two pages are identical exactly when their ids are equal (what TPS verifies with a full compare
after a hash match, Waldspurger 2002 section 4.2). The id space is split so that kinds never
collide:

    0                          the zero page (all bytes zero)
    catalogue << 32 | index    page `index` of a catalogue: the kernel code, kernel data, libraries
                               or files of one OS version, the image or files of an application
                               as built for that OS version, or the OS version's repeated
                               patterns. Identical for every VM running the same software, which
                               is what inter-VM sharing finds; a catalogue drawn with replacement
                               (patterns, copies of data) repeats pages inside one VM too.
    1 << 63 | n                unique data: the n-th page of data written on this host.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

ZERO = np.uint64(0)
_UNIQUE_BIT = np.uint64(1 << 63)
_CATALOGUE_SHIFT = 32


def is_unique(ids: np.ndarray) -> np.ndarray:
    """Which ids are unique data: content no other page holds, now or later (each is drawn once,
    and only moves with its page: a copy-on-write copy is written new content, a swapped page
    takes its content along).
    """
    return (ids & _UNIQUE_BIT) != 0


def catalogue_base(name: str) -> int:
    """The id of page 0 of the catalogue `name`; stable across runs and hosts (no seed involved)."""
    digest = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big")
    catalogue = digest % 0x7FFF_FFFF + 1  # 1 .. 2**31 - 1: never the zero page, never unique
    return catalogue << _CATALOGUE_SHIFT


@dataclass(frozen=True)
class ContentMix:
    """What a workload writes: fractions of zero pages, copies of OS files, the application's
    input data (read in order), the OS's repeated patterns, and unique pages.
    """

    zero: float
    os_image: float
    application: float
    unique: float
    pattern: float = 0.0

    def __post_init__(self):
        total = self.zero + self.os_image + self.application + self.unique + self.pattern
        if abs(total - 1.0) > 1e-9:
            raise ValueError("content mix fractions must add up to 1")


@dataclass(frozen=True)
class Catalogue:
    name: str
    pages: int

    @property
    def base(self) -> int:
        return catalogue_base(self.name)

    def pages_at(self, indices: np.ndarray) -> np.ndarray:
        return np.uint64(self.base) + np.asarray(indices, np.uint64)


class ContentSource:
    """Draws page contents; unique ids count up host-wide so they never repeat."""

    def __init__(self, next_unique: int = 1):
        self.next_unique = next_unique

    def unique(self, n: int) -> np.ndarray:
        ids = np.arange(self.next_unique, self.next_unique + n, dtype=np.uint64) | _UNIQUE_BIT
        self.next_unique += n
        return ids

    def drawn(
        self,
        rng: np.random.Generator,
        n: int,
        zero: float,
        catalogues: tuple[tuple[float, Catalogue | None], ...],
        in_order: tuple[float, Catalogue | None, int] = (0.0, None, 0),
    ) -> tuple[np.ndarray, int]:
        """`n` pages: a share `zero` of zero pages; for each (share, catalogue) that share drawn
        uniformly from the catalogue (with replacement, so pages repeat); the `in_order` share
        read from its catalogue in order from the given position, wrapping (a stream: two VMs
        reading it the same way hold the same pages, one VM no page twice); the rest unique. A
        catalogue that is None gives its share to the unique pages. Returns the pages and the
        stream's next position.
        """
        draw = rng.random(n)
        ids = np.zeros(n, np.uint64)
        low = zero
        for share, catalogue in catalogues:
            if catalogue is None or not share:
                continue
            picked = ((draw >= low) & (draw < low + share)).nonzero()[0]
            ids[picked] = catalogue.pages_at(rng.integers(0, catalogue.pages, picked.size))
            low += share
        share, stream, position = in_order
        if stream is not None and share:
            picked = ((draw >= low) & (draw < low + share)).nonzero()[0]
            ids[picked] = stream.pages_at((position + np.arange(picked.size)) % stream.pages)
            position += picked.size
            low += share
        unique_pages = (draw >= low).nonzero()[0]
        ids[unique_pages] = self.unique(unique_pages.size)
        return ids, position

    def mixed(
        self,
        rng: np.random.Generator,
        n: int,
        mix: ContentMix,
        os_files: Catalogue,
        patterns: Catalogue,
        inputs: Catalogue | None,
        inputs_at: int,
    ) -> tuple[np.ndarray, int]:
        """`n` pages drawn from `mix`: copies of OS files and patterns drawn at random, the
        application's input data read in order from `inputs_at`. Returns them and the next
        position in the inputs.
        """
        return self.drawn(
            rng,
            n,
            mix.zero,
            ((mix.os_image, os_files), (mix.pattern, patterns)),
            (mix.application, inputs, inputs_at),
        )
