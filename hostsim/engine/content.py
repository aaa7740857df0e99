"""Page contents as 64-bit content ids.

A real page holds 4 KiB of bytes; the engine keeps one id per page that stands for those bytes, so
two pages are identical exactly when their ids are equal (what TPS verifies with a full compare
after a hash match, Waldspurger 2002 section 4.2). The id space is split so that kinds never
collide:

    0                          the zero page (all bytes zero)
    catalogue << 32 | index    page `index` of a software image: an OS image or an application.
                               Identical for every VM running the same software, which is what
                               inter-VM sharing finds.
    1 << 63 | n                unique data: the n-th page of data written on this host.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

ZERO = np.uint64(0)
_UNIQUE_BIT = np.uint64(1 << 63)
_CATALOGUE_SHIFT = 32


def catalogue_base(name: str) -> int:
    """The id of page 0 of the catalogue `name`; stable across runs and hosts (no seed involved)."""
    digest = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big")
    catalogue = digest % 0x7FFF_FFFF + 1  # 1 .. 2**31 - 1: never the zero page, never unique
    return catalogue << _CATALOGUE_SHIFT


@dataclass(frozen=True)
class ContentMix:
    """What a workload writes: fractions of zero, OS-image, application-image and unique pages."""

    zero: float
    os_image: float
    application: float
    unique: float

    def __post_init__(self):
        if abs(self.zero + self.os_image + self.application + self.unique - 1.0) > 1e-9:
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

    def mixed(
        self,
        rng: np.random.Generator,
        n: int,
        mix: ContentMix,
        os_image: Catalogue,
        application: Catalogue | None,
    ) -> np.ndarray:
        """`n` pages drawn from `mix`; catalogue pages are drawn uniformly from their image."""
        app_fraction = mix.application if application is not None else 0.0
        draw = rng.random(n)
        # kind: 0 zero, 1 OS image, 2 application image, 3 unique (compares: cheaper than a search)
        kind = (draw >= mix.zero).view(np.int8) + (draw >= mix.zero + mix.os_image).view(np.int8)
        kind += (draw >= mix.zero + mix.os_image + app_fraction).view(np.int8)
        ids = np.zeros(n, np.uint64)
        os_pages = (kind == 1).nonzero()[0]
        ids[os_pages] = os_image.pages_at(rng.integers(0, os_image.pages, os_pages.size))
        if application is not None:
            app_pages = (kind == 2).nonzero()[0]
            ids[app_pages] = application.pages_at(
                rng.integers(0, application.pages, app_pages.size)
            )
        unique_pages = (kind == 3).nonzero()[0]
        ids[unique_pages] = self.unique(unique_pages.size)
        return ids
