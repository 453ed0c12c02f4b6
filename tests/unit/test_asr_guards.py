"""Loop detection on Whisper text: the repeated phrase, compression ratio, the collapse."""

from __future__ import annotations

import pytest

from voicectl.asr.guards import (
    collapse_repetition,
    compression_ratio,
    is_loop,
    repetition,
)

# Outputs the cropped greedy decode produced on prefixes of recorded speech (jfk.flac).
LOOPS = [
    "And so my fellow Americans asked not to ask not to ask not to ask not to ask not to",
    "n n n n n n n n n n n n",
    "And so and so and so and so",
    "And so my fellow American. And so my fellow American. And so my fellow American.",
]
SPEECH = [
    "No, no, no.",
    "And so my fellow Americans ask not what your country can do for you ask what you can "
    "do for your country.",
    "Set a timer for 15 minutes and then remind me to call my mother.",
    "I said yes, yes, yes, yes.",  # four times: still speech
    "",
]


@pytest.mark.parametrize("text", LOOPS)
def test_loops_are_found(text: str) -> None:
    assert is_loop(text)
    found = repetition(text)
    assert found is not None
    assert found.times >= 3


@pytest.mark.parametrize("text", SPEECH)
def test_speech_is_not_a_loop(text: str) -> None:
    assert not is_loop(text)
    assert repetition(text) is None
    assert collapse_repetition(text) == text


def test_repeated_phrase_is_reported_where_it_starts() -> None:
    found = repetition("please ask not to ask not to ask not to now")
    assert found is not None
    assert found.phrase == ("ask", "not", "to")
    assert (found.times, found.start) == (3, 1)


def test_collapse_keeps_one_occurrence_and_the_words_around_it() -> None:
    text = "Well, ask not to ask not to ask not to ask not to, she said."
    collapsed = collapse_repetition(text)
    assert collapsed == "Well, ask not to, she said."
    assert not is_loop(collapsed)


def test_compression_ratio_is_faster_whispers() -> None:
    assert compression_ratio("") == 0.0
    assert compression_ratio("the cat sat on the mat") < 1.5
    assert compression_ratio("ask what you can do " * 20) > 2.4
