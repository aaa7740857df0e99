"""Sort-based grouping of page and frame numbers.

`np.unique` on integer arrays is much slower than a plain sort in the numpy this project pins, so
the engine groups with `np.sort` (a SIMD sort for integers) and a boundary mask.
"""

import numpy as np


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending."""
    if values.size < 2:
        return values.copy()
    ordered = np.sort(values)
    keep = np.empty(ordered.size, bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def group_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values ascending, how often each occurs)."""
    if not values.size:
        return values.copy(), np.zeros(0, np.int64)
    ordered = np.sort(values)
    starts = np.concatenate(([True], ordered[1:] != ordered[:-1])).nonzero()[0]
    counts = np.diff(np.append(starts, ordered.size))
    return ordered[starts], counts
