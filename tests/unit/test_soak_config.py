"""Soak settings: every bad value is refused naming its flag and what is allowed."""

from __future__ import annotations

import re

import pytest

from voicectl.bench.soak import SoakConfig


def test_defaults_are_the_briefs_soak() -> None:
    config = SoakConfig()
    assert (config.sessions, config.seconds, config.max_growth_pct) == (8, 600.0, 5.0)
    assert config.warmup_s == pytest.approx(120.0)  # the first 20 % of the run


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sessions": 0}, "--sessions must be >= 1, got 0"),
        ({"seconds": 9.5}, "--seconds/--minutes: the soak must last >= 10 s, got 9.5 s"),
        ({"seconds": 20, "interval_s": 0}, "--interval must be > 0 and at most a tenth of the "
                                           "run (2 s), got 0"),
        ({"seconds": 20, "interval_s": 2.5}, "--interval must be > 0 and at most a tenth of the "
                                             "run (2 s), got 2.5"),
        ({"warmup_pct": -1}, "--warmup-pct must be within 0..80, got -1"),
        ({"warmup_pct": 81}, "--warmup-pct must be within 0..80, got 81"),
        ({"max_growth_pct": -0.5}, "--max-growth-pct must be >= 0, got -0.5"),
        ({"turns_per_session": 0}, "--turns-per-session must be >= 1, got 0"),
    ],
)  # fmt: skip
def test_bad_values_name_the_flag(values: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        SoakConfig(**values)  # type: ignore[arg-type]


def test_the_bounds_themselves_are_allowed() -> None:
    config = SoakConfig(sessions=1, seconds=10, interval_s=1, warmup_pct=80, max_growth_pct=0,
                        turns_per_session=1)  # fmt: skip
    assert config.warmup_s == pytest.approx(8.0)
