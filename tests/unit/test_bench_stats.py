"""Percentiles by linear interpolation between closest ranks (numpy's default method)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicectl.bench.stats import Summary, percentile

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_single_sample_is_every_percentile() -> None:
    assert percentile([7.0], 0) == percentile([7.0], 50) == percentile([7.0], 100) == 7.0


def test_interpolates_between_ranks_rather_than_picking_a_sample() -> None:
    samples = [1.0, 2.0, 3.0, 4.0]
    assert percentile(samples, 50) == 2.5  # index 1.5
    assert percentile(samples, 95) == pytest.approx(3.85)  # index 2.85: 3 + 0.85 * (4 - 3)
    assert percentile(samples, 0) == 1.0
    assert percentile(samples, 100) == 4.0


def test_p95_of_1_to_100() -> None:
    # index 0.95 * 99 = 94.05 -> 95 + 0.05 * (96 - 95); nearest-rank would give 95.
    assert percentile([float(i) for i in range(1, 101)], 95) == pytest.approx(95.05)


def test_order_of_input_does_not_matter() -> None:
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0


@pytest.mark.parametrize("p", [-1.0, 100.5, math.nan])
def test_rejects_out_of_range_percentile(p: float) -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], p)


def test_rejects_empty_samples() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match="empty"):
        Summary.of([])


@given(st.lists(finite, min_size=1, max_size=60), st.floats(min_value=0, max_value=100))
def test_matches_numpy_linear(samples: list[float], p: float) -> None:
    expected = float(np.percentile(samples, p, method="linear"))
    assert percentile(samples, p) == pytest.approx(expected, rel=1e-9, abs=1e-6)


@given(st.lists(finite, min_size=1, max_size=60))
def test_summary_is_ordered(samples: list[float]) -> None:
    s = Summary.of(samples)
    assert s.count == len(samples)
    assert s.min <= s.p50 <= s.p95 <= s.max
    assert s.min - 1e-6 <= s.mean <= s.max + 1e-6


def test_summary_values_scaling_and_dict() -> None:
    s = Summary.of([0.010, 0.020, 0.030])
    assert s.mean == pytest.approx(0.020)
    ms = s.scaled(1000)
    assert (ms.min, ms.p50, ms.max) == pytest.approx((10.0, 20.0, 30.0))
    assert ms.p95 == pytest.approx(29.0)  # index 1.9 -> 20 + 0.9 * 10
    assert ms.count == 3
    assert ms.to_dict(1) == {"mean": 20.0, "min": 10.0, "p50": 20.0, "p95": 29.0, "max": 30.0}
