"""Reading a page's level trace: reply holes, sound onset, when the reply went quiet."""

from __future__ import annotations

from voicectl.bench.page_trace import WINDOW_S, heard, silent_from, sound_onset


def trace(*runs: tuple[int, float]) -> list[list[float]]:
    """Windows from (count, level) runs, 10 ms apart from t=0; peak = 2 * rms."""
    out: list[list[float]] = []
    for count, level in runs:
        for _ in range(count):
            out.append([len(out) * WINDOW_S, level, 2 * level])
    return out


def test_a_quiet_pause_is_not_a_hole_but_digital_silence_is() -> None:
    reply = trace((10, 0.0), (20, 0.1), (15, 0.0001), (20, 0.1), (8, 0.0), (20, 0.1), (30, 0.0))
    got = heard(reply, 0.0, 10.0)
    assert got.first_sound_s is not None
    assert abs(got.first_sound_s - 0.10) < 1e-9
    assert got.last_sound_s is not None
    assert abs(got.last_sound_s - 0.93) < 1e-9
    assert abs(got.sounding_s - 0.75) < 1e-9  # the quiet pause sounds; the hole does not
    assert abs(got.longest_hole_s - 0.08) < 1e-9  # silence before and after is no hole


def test_nothing_heard() -> None:
    got = heard(trace((50, 0.0)), 0.0, 1.0)
    assert (got.first_sound_s, got.sounding_s, got.longest_hole_s) == (None, 0.0, 0.0)


def test_onset_and_the_silence_after_it() -> None:
    mic = trace((100, 0.0), (5, 0.0005), (50, 0.05))
    assert sound_onset(mic, after=0.0) is not None
    assert abs((sound_onset(mic, after=0.0) or 0) - 1.05) < 1e-9  # -66 dBFS is not yet sound
    assert sound_onset(mic, after=2.0) is None
    reply = trace((120, 0.1), (10, 0.0), (5, 0.1), (40, 0.0))
    # A 100 ms hole is not the stop; the 400 ms silence after it is.
    assert abs((silent_from(reply, after=1.05) or 0) - 1.35) < 1e-9
    assert silent_from(trace((100, 0.1)), after=0.0) is None
