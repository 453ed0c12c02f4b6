"""Summary statistics for benchmark samples (pure: no I/O, no clock).

Percentiles use **linear interpolation between closest ranks** (numpy's default
``method="linear"``, Excel's ``PERCENTILE.INC``): for sorted samples ``x[0..n-1]``
the p-th percentile sits at fractional index ``h = (n - 1) * p / 100`` and is
``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``. So p0 is the
minimum, p100 the maximum, and p50 the usual median. Unlike nearest-rank, the
value need not be one of the samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


def percentile(samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0..100) of ``samples`` by linear interpolation."""
    if not samples:
        raise ValueError("percentile of an empty sample list is undefined")
    if not 0.0 <= p <= 100.0 or math.isnan(p):
        raise ValueError(f"percentile p must be in 0..100, got {p}")
    ordered = sorted(samples)
    h = (len(ordered) - 1) * p / 100.0
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


@dataclass(frozen=True, kw_only=True)
class Summary:
    """Count, mean and spread of one metric; same unit as the samples."""

    count: int
    mean: float
    min: float
    p50: float
    p95: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            raise ValueError("cannot summarize an empty sample list")
        return cls(
            count=len(samples),
            mean=math.fsum(samples) / len(samples),
            min=min(samples),
            p50=percentile(samples, 50),
            p95=percentile(samples, 95),
            max=max(samples),
        )

    def scaled(self, factor: float) -> Summary:
        """The same summary in another unit, e.g. ``scaled(1000)`` for seconds -> ms."""
        return Summary(
            count=self.count,
            mean=self.mean * factor,
            min=self.min * factor,
            p50=self.p50 * factor,
            p95=self.p95 * factor,
            max=self.max * factor,
        )

    def to_dict(self, digits: int = 3) -> dict[str, float]:
        """Rounded values keyed by name (``count`` excluded: it is reported once per bench)."""
        return {k: round(float(v), digits) for k, v in asdict(self).items() if k != "count"}
