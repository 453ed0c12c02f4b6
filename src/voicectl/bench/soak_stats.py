"""Memory growth over a soak and its verdict (pure: no I/O, no clock).

A process's RSS moves with the work in flight (audio buffers, ASR windows), so single
samples are noisy. Growth therefore compares two medians: of the first and of the last
``WINDOW_FRACTION`` of the samples taken after warm-up (at least ``MIN_WINDOW`` each when
there are enough). The slope is a least-squares line through every sample after
warm-up: a leak shows as a steady positive slope, a one-off allocation does not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median

MIB = 2**20
WINDOW_FRACTION = 0.05
MIN_WINDOW = 3


@dataclass(frozen=True)
class RssSample:
    at_s: float  # seconds since the soak started
    rss_bytes: int


@dataclass(frozen=True, kw_only=True)
class Growth:
    """RSS of one process over a soak, in MiB."""

    samples: int  # all of them, warm-up included
    measured: int  # taken after warm-up
    first_mib: float  # the first sample
    start_mib: float  # median of the first window after warm-up
    end_mib: float  # median of the last window
    peak_mib: float
    slope_mib_per_min: float  # least squares over the samples after warm-up

    @property
    def growth_mib(self) -> float:
        return self.end_mib - self.start_mib

    @property
    def growth_pct(self) -> float:
        return self.growth_mib / self.start_mib * 100.0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "samples": self.samples,
            "measured_samples": self.measured,
            "first_mib": round(self.first_mib, 1),
            "start_mib": round(self.start_mib, 1),
            "end_mib": round(self.end_mib, 1),
            "peak_mib": round(self.peak_mib, 1),
            "growth_mib": round(self.growth_mib, 2),
            "growth_pct": round(self.growth_pct, 2),
            "slope_mib_per_min": round(self.slope_mib_per_min, 3),
        }


def least_squares_slope(points: Sequence[tuple[float, float]]) -> float:
    """Slope of the least-squares line through ``(x, y)`` points (y per unit of x)."""
    if len(points) < 2:
        raise ValueError(f"a slope needs at least 2 points, got {len(points)}")
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        raise ValueError("a slope needs points at different x")
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def window_size(measured: int) -> int:
    """Samples in each of the start and end windows: never overlapping, at least 1."""
    wanted = max(MIN_WINDOW, math.ceil(measured * WINDOW_FRACTION))
    return max(1, min(wanted, measured // 2))


def growth(samples: Sequence[RssSample], *, warmup_s: float) -> Growth:
    """How RSS moved after ``warmup_s``; ValueError with fewer than 2 samples after it."""
    after = [s for s in samples if s.at_s >= warmup_s]
    if len(after) < 2:
        raise ValueError(
            f"memory growth needs at least 2 samples after the {warmup_s:g} s warm-up, "
            f"got {len(after)}: run longer or sample more often (--interval)"
        )
    size = window_size(len(after))
    mib = [s.rss_bytes / MIB for s in after]
    slope_per_s = least_squares_slope([(s.at_s, m) for s, m in zip(after, mib, strict=True)])
    return Growth(
        samples=len(samples),
        measured=len(after),
        first_mib=samples[0].rss_bytes / MIB,
        start_mib=median(mib[:size]),
        end_mib=median(mib[-size:]),
        peak_mib=max(s.rss_bytes for s in samples) / MIB,
        slope_mib_per_min=slope_per_s * 60.0,
    )


def verdict(
    growths: Mapping[str, Growth | None],
    *,
    max_growth_pct: float,
    leftovers: Mapping[str, int | None],
    turns: int,
    failed_turns: int,
) -> list[str]:
    """Why the soak failed; empty when it passed. A ``None`` growth (a process that could
    not be sampled) or leftover (a gauge that could not be read) is not checked."""
    failures = []
    for name, measured in growths.items():
        if measured is not None and measured.growth_pct > max_growth_pct:
            failures.append(
                f"{name} RSS grew {measured.growth_pct:.1f} % after warm-up "
                f"({measured.start_mib:.1f} -> {measured.end_mib:.1f} MiB), over the "
                f"{max_growth_pct:g} % margin (--max-growth-pct)"
            )
    for name, value in leftovers.items():
        if value is not None and value != 0:
            failures.append(f"{name} is {value} after the last session closed, not 0")
    if turns == 0:
        failures.append("no turn completed: nothing was soaked")
    if failed_turns:
        failures.append(f"{failed_turns} turn(s) failed (see last_error)")
    return failures
