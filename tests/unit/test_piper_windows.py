"""Planning a sentence's decoder windows (pure) and trimming the silence at phrase joins."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from voicectl.audio.seams import KEEP_S, silent_edges, trim_silence
from voicectl.worker.adapters.piper_windows import (
    BUSY_FIRST_FRAMES,
    CONTEXT_FRAMES,
    FIRST_WINDOW_FRAMES,
    HEAD_FRAMES,
    MAX_FIRST_FRAMES,
    decode_windows,
    first_window_frames,
)
from voicectl.worker.segment import ends_mid_clause


@pytest.mark.parametrize("frames", [1, 8, 23, 24, 25, 45, 100, 410, 2000])
@pytest.mark.parametrize("first", [FIRST_WINDOW_FRAMES, MAX_FIRST_FRAMES])
def test_windows_cover_the_sentence_in_order_with_context(frames: int, first: int) -> None:
    plan = decode_windows(frames, first=first)
    assert plan[0].start == 0
    assert plan[-1].end == frames
    for before, after in itertools.pairwise(plan):
        assert before.end == after.start
    for window in plan:
        assert window.start < window.end
        assert window.context_start == max(0, window.start - CONTEXT_FRAMES)
        assert window.context_end == min(frames, window.end + CONTEXT_FRAMES)
    assert plan[0].end == (first if frames > first + CONTEXT_FRAMES else frames)


def test_short_sentences_are_one_window_and_long_ones_start_short_then_grow() -> None:
    assert len(decode_windows(HEAD_FRAMES)) == 1
    plan = decode_windows(410)
    sizes = [w.end - w.start for w in plan]
    assert sizes[0] == FIRST_WINDOW_FRAMES
    assert sizes == sorted(sizes), "windows grow"
    assert len(plan) <= 5, "few calls pay the context overhead"
    # Idle, the head graph decodes the first window in the latent's own call.
    assert plan[0].context_end == HEAD_FRAMES
    busy = decode_windows(410, first=MAX_FIRST_FRAMES)
    assert [(w.start, w.end) for w in busy] == [(0, MAX_FIRST_FRAMES), (MAX_FIRST_FRAMES, 410)]


def test_the_first_window_grows_with_the_streams_competing_for_the_cores() -> None:
    assert first_window_frames(0, 2) == FIRST_WINDOW_FRAMES  # idle: the next job runs at once
    assert first_window_frames(1, 4) == FIRST_WINDOW_FRAMES  # cores to spare
    assert first_window_frames(1, 2) == BUSY_FIRST_FRAMES  # it and this one fill the cores
    assert first_window_frames(2, 2) == BUSY_FIRST_FRAMES
    assert first_window_frames(3, 2) == MAX_FIRST_FRAMES  # twice as many streams as cores
    assert first_window_frames(15, 16) == BUSY_FIRST_FRAMES


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="first >= 1"):
        decode_windows(100, first=0)


RATE = 22050


def phrase(lead_s: float, speech_s: float, trail_s: float) -> np.ndarray:
    t = np.arange(int(speech_s * RATE)) / RATE
    speech = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32) + 0.31
    return np.concatenate([np.zeros(int(lead_s * RATE)), speech, np.zeros(int(trail_s * RATE))])


def test_trim_cuts_the_silence_at_a_join_to_a_word_gap() -> None:
    audio = phrase(0.06, 0.5, 0.12).astype(np.float32)
    tail = trim_silence(audio, rate=RATE, head=False, tail=True)
    head = trim_silence(audio, rate=RATE, head=True, tail=False)
    keep = int(KEEP_S * RATE)
    assert silent_edges(tail) == (int(0.06 * RATE), keep)
    assert silent_edges(head) == (keep, int(0.12 * RATE))
    # Speech itself is untouched, and the cut edges end in silence (no click).
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    np.testing.assert_array_equal(tail[loud[0] : loud[-1] + 1], audio[loud[0] : loud[-1] + 1])
    assert tail[-1] == 0.0
    assert head[0] == 0.0


def test_trim_leaves_silence_alone_and_does_nothing_unasked() -> None:
    silence = np.zeros(1000, dtype=np.float32)
    assert trim_silence(silence, rate=RATE, head=True, tail=True) is silence
    audio = phrase(0.05, 0.2, 0.05).astype(np.float32)
    assert trim_silence(audio, rate=RATE, head=False, tail=False) is audio


@pytest.mark.parametrize(
    ("segment", "mid_clause"),
    [("The quick brown fox jumps", True), ("Hello there,", False), ("Sure.", False),
     ("Is it?", False), ("well —", False), ("", False)],
)  # fmt: skip
def test_a_segment_ends_mid_clause_without_punctuation(segment: str, mid_clause: bool) -> None:
    assert ends_mid_clause(segment) is mid_clause
