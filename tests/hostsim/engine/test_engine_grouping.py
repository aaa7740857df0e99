"""Grouping of page and frame numbers (hostsim.engine.grouping)."""

import numpy as np
import pytest

from hostsim.engine.grouping import distinct, group_counts


@pytest.mark.parametrize(
    ("n", "bound"), [(0, 10), (1, 10), (50, 100_000), (5_000, 20_000), (200_000, 50_000)]
)
def test_distinct_gives_the_distinct_values_ascending_whether_sorted_or_marked(n, bound):
    values = np.random.default_rng(n).integers(0, bound, n).astype(np.int32)
    for result in (distinct(values), distinct(values, bound=bound)):
        assert result.dtype == values.dtype
        assert np.array_equal(result, np.unique(values))


def test_group_counts_gives_each_distinct_value_and_how_often_it_occurs():
    values = np.array([7, 3, 7, 1, 3, 7], np.int32)
    found, counts = group_counts(values)
    assert found.tolist() == [1, 3, 7] and counts.tolist() == [1, 2, 3]
