"""Soak figures and verdict: growth after warm-up, its slope, and when a soak fails."""

from __future__ import annotations

import pytest

from voicectl.bench.soak_stats import (
    MIB,
    Growth,
    RssSample,
    growth,
    least_squares_slope,
    verdict,
    window_size,
)


def series(mib: list[float], interval_s: float = 1.0) -> list[RssSample]:
    return [RssSample(at_s=i * interval_s, rss_bytes=int(m * MIB)) for i, m in enumerate(mib)]


def test_slope_of_a_line_and_of_noise_around_it() -> None:
    assert least_squares_slope([(0, 1), (1, 3), (2, 5)]) == pytest.approx(2.0)
    # Symmetric noise around y = 10 + 0.5 x does not move the fitted slope.
    points = [(x, 10 + 0.5 * x + (1 if x % 2 else -1)) for x in range(10)]
    assert least_squares_slope(points) == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize(
    ("points", "message"),
    [([(0.0, 1.0)], "at least 2 points"), ([(1.0, 1.0), (1.0, 2.0)], "different x")],
)
def test_slope_refuses_what_has_none(points: list[tuple[float, float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        least_squares_slope(points)


def test_warm_up_is_left_out() -> None:
    """A climb during warm-up (models, arenas filling) is not growth; flat after it is 0."""
    samples = series([100, 150, 190, *[200] * 20])
    measured = growth(samples, warmup_s=3.0)
    assert measured.samples == 23
    assert measured.measured == 20
    assert measured.first_mib == pytest.approx(100)
    assert measured.start_mib == pytest.approx(200)
    assert measured.end_mib == pytest.approx(200)
    assert measured.growth_mib == pytest.approx(0)
    assert measured.growth_pct == pytest.approx(0)
    assert measured.slope_mib_per_min == pytest.approx(0)
    assert measured.peak_mib == pytest.approx(200)
    # The same samples with no warm-up: the climb counts (median of 100, 150, 190 -> 200).
    assert growth(samples, warmup_s=0.0).growth_pct == pytest.approx(100 / 3)


def test_a_steady_leak_shows_as_growth_and_slope() -> None:
    """1 MiB per sample at one sample per second: 60 MiB/min; growth from 100 MiB."""
    samples = series([100 + i for i in range(40)])
    measured = growth(samples, warmup_s=0.0)
    assert measured.slope_mib_per_min == pytest.approx(60.0)
    # Windows of 3 samples (5 % of 40 is 2, raised to the minimum): medians 101 and 138.
    assert measured.start_mib == pytest.approx(101)
    assert measured.end_mib == pytest.approx(138)
    assert measured.growth_mib == pytest.approx(37)
    assert measured.growth_pct == pytest.approx(37 / 101 * 100)


def test_one_spike_at_the_end_is_not_growth() -> None:
    """The last sample caught a burst of work in flight; the median of the window ignores it."""
    measured = growth(series([*[200] * 30, 260]), warmup_s=0.0)
    assert measured.end_mib == pytest.approx(200)
    assert measured.growth_pct == pytest.approx(0)
    assert measured.peak_mib == pytest.approx(260)


def test_windows_never_overlap_and_scale_with_the_run() -> None:
    assert window_size(2) == 1
    assert window_size(5) == 2
    assert window_size(40) == 3
    assert window_size(600) == 30


def test_too_few_samples_after_warm_up_names_the_remedy() -> None:
    with pytest.raises(ValueError, match=r"at least 2 samples after the 5 s warm-up, got 1.*"
                                         r"--interval"):  # fmt: skip
        growth(series([100] * 6), warmup_s=5.0)


def flat(mib: float = 200.0, growth_pct: float = 0.0) -> Growth:
    return Growth(samples=10, measured=8, first_mib=mib, start_mib=mib,
                  end_mib=mib * (1 + growth_pct / 100), peak_mib=mib * (1 + growth_pct / 100),
                  slope_mib_per_min=0.0)  # fmt: skip


CLEAN = {"worker refcount total": 0, "voicectl_orchestrator_sessions_active": 0}


def test_a_clean_soak_passes() -> None:
    assert verdict({"worker": flat(), "orchestrator": flat(growth_pct=4.9)}, max_growth_pct=5,
                   leftovers=CLEAN, turns=10, failed_turns=0) == []  # fmt: skip


def test_growth_over_the_margin_fails_naming_the_process() -> None:
    (failure,) = verdict({"worker": flat(), "orchestrator": flat(growth_pct=5.5)},
                         max_growth_pct=5, leftovers=CLEAN, turns=10, failed_turns=0)  # fmt: skip
    assert failure.startswith("orchestrator RSS grew 5.5 %")
    assert "200.0 -> 211.0 MiB" in failure
    assert "--max-growth-pct" in failure
    # The margin is the caller's: the same growth passes a looser one.
    assert verdict({"orchestrator": flat(growth_pct=5.5)}, max_growth_pct=6, leftovers=CLEAN,
                   turns=10, failed_turns=0) == []  # fmt: skip


def test_what_is_not_back_to_zero_fails() -> None:
    failures = verdict({"worker": flat()}, max_growth_pct=5, turns=10, failed_turns=0,
                       leftovers={"worker refcount total": 1,
                                  "voicectl_orchestrator_sessions_active": 2})  # fmt: skip
    assert failures == [
        "worker refcount total is 1 after the last session closed, not 0",
        "voicectl_orchestrator_sessions_active is 2 after the last session closed, not 0",
    ]


def test_what_could_not_be_read_or_sampled_is_not_judged() -> None:
    """A remote worker has no pid here and no known /metrics: None, not a failure."""
    unread = {"voicectl_worker_sessions_active": None}
    assert verdict({"worker": None, "orchestrator": flat()}, max_growth_pct=5, turns=3,
                   failed_turns=0, leftovers=unread) == []  # fmt: skip


def test_failed_turns_and_an_idle_soak_fail() -> None:
    assert verdict({"worker": flat()}, max_growth_pct=5, leftovers=CLEAN, turns=9,
                   failed_turns=2) == ["2 turn(s) failed (see last_error)"]  # fmt: skip
    assert verdict({"worker": flat()}, max_growth_pct=5, leftovers=CLEAN, turns=0,
                   failed_turns=0) == ["no turn completed: nothing was soaked"]  # fmt: skip
