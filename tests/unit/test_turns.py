"""End of turn, pure: a pause inside a sentence keeps the turn; a finished one ends it fast."""

from __future__ import annotations

import pytest

from voicectl.orchestrator.turns import (
    Endpointer,
    EndpointingConfig,
    continues_turn,
    looks_unfinished,
)

CONFIG = EndpointingConfig(min_delay_ms=240, max_delay_ms=1600, resume_margin_ms=300)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def ended(endpointer: Endpointer, now: float) -> bool:
    deadline = endpointer.deadline()
    return deadline is not None and now >= deadline - 1e-9


@pytest.mark.parametrize(
    "text",
    [
        "And so my fellow Americans ask not",
        "I would like to book a table for two at",
        "Could you tell me how far it is from here to",
        "Turn on the lights and",
        "So my fellow Americans,",
        "Well, um",
        "ask what you can do for your -",
        "I was thinking...",
    ],
)
def test_unfinished_words(text: str) -> None:
    assert looks_unfinished(text)


@pytest.mark.parametrize(
    "text",
    [
        "What is the weather like today?",
        "Set a timer for fifteen minutes.",
        "I think so.",
        "Turn it on.",
        "Yes I can.",
        "Thank you",
        "Why not?",
        "",
    ],
)
def test_finished_words(text: str) -> None:
    assert not looks_unfinished(text)


def test_a_finished_sentence_ends_the_turn_after_the_min_delay() -> None:
    clock = FakeClock()
    turn = Endpointer(CONFIG)
    turn.pause(started_at=clock.now)
    turn.heard("What is the weather like today?")
    assert not ended(turn, clock.advance(0.239))
    assert ended(turn, clock.advance(0.001))


def test_a_pause_inside_a_sentence_does_not_end_the_turn() -> None:
    clock = FakeClock()
    turn = Endpointer(CONFIG)
    start = clock.now
    turn.pause(started_at=start)
    turn.heard("And so my fellow Americans ask not")
    assert not ended(turn, clock.advance(1.1))  # the recording's pause after "ask not"
    turn.resume(at=clock.now)
    assert turn.deadline() is None
    assert not turn.pausing
    # Had the speaker stopped there for good, the turn would have ended at max_delay_ms.
    turn.pause(started_at=clock.advance(2.0))
    turn.heard("ask not what your country can do for")
    assert turn.deadline() == pytest.approx(clock.now + 1.6)


def test_the_turn_waits_for_the_words_before_ending_early() -> None:
    clock = FakeClock()
    turn = Endpointer(CONFIG)
    turn.pause(started_at=clock.now)
    assert turn.deadline() == pytest.approx(clock.now + 1.6)  # nothing known: never guess
    clock.advance(0.3)
    turn.heard("Set a timer for fifteen minutes.")
    assert ended(turn, clock.now)  # the words came late: the turn ends as soon as they do


def test_a_speaker_who_paused_mid_turn_gets_longer_pauses() -> None:
    clock = FakeClock()
    turn = Endpointer(CONFIG)
    turn.pause(started_at=clock.now)
    turn.heard("And so my fellow Americans ask not")
    turn.resume(at=clock.advance(0.84))
    clock.advance(3.0)
    turn.pause(started_at=clock.now)
    turn.heard("ask not what your country can do for you.")  # reads as finished
    assert not ended(turn, clock.advance(0.6))  # the recording's pause after "for you"
    assert turn.delay_s() == pytest.approx(0.84 + 0.3)
    assert ended(turn, clock.advance(0.54))


def test_the_adapted_delay_is_capped_and_reset_with_the_turn() -> None:
    clock = FakeClock()
    turn = Endpointer(CONFIG)
    turn.pause(started_at=clock.now)
    turn.resume(at=clock.advance(1.5))
    turn.pause(started_at=clock.advance(1.0))
    turn.heard("That is all.")
    assert turn.delay_s() == pytest.approx(1.6)  # 1.5 + 0.3 capped at max_delay_ms
    turn.reset()
    turn.pause(started_at=clock.now)
    turn.heard("That is all.")
    assert turn.delay_s() == pytest.approx(0.24)


def test_words_heard_outside_a_pause_are_ignored() -> None:
    turn = Endpointer(CONFIG)
    turn.heard("Finished.")
    assert turn.deadline() is None


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"min_delay_ms": 900, "max_delay_ms": 800}, "min_delay_ms <= max_delay_ms"),
        ({"min_delay_ms": -1}, "min_delay_ms"),
        ({"resume_margin_ms": -5}, "resume_margin_ms"),
        ({"continuation_ms": -1}, "continuation_ms"),
    ],
)
def test_bad_config_is_refused(values: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EndpointingConfig(**values)


def test_speech_soon_after_the_turn_ended_continues_it() -> None:
    clock = FakeClock()
    turn = Endpointer(CONFIG)
    turn.pause(started_at=clock.now)
    assert turn.pause_started == clock.now
    turn.heard("That's one small step for man.")
    ended_at = clock.advance(0.24)
    assert ended(turn, ended_at)  # reads finished: the turn ends
    window = CONFIG.continuation_ms / 1000
    assert continues_turn(turn_ended_at=ended_at, onset_at=ended_at + 0.9, config=CONFIG)
    assert continues_turn(turn_ended_at=ended_at, onset_at=ended_at + window - 0.001, config=CONFIG)
    late = ended_at + window + 0.02
    assert not continues_turn(turn_ended_at=ended_at, onset_at=late, config=CONFIG)
    assert not continues_turn(turn_ended_at=None, onset_at=ended_at + 0.5, config=CONFIG)
    off = EndpointingConfig(continuation_ms=0)
    assert not continues_turn(turn_ended_at=ended_at, onset_at=ended_at + 0.1, config=off)
