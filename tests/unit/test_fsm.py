"""The conversation FSM: transition table and property-based invariants."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicectl.orchestrator import events as ev
from voicectl.orchestrator.fsm import (
    ClearPlayback,
    ConfirmTimeout,
    DiscardUtterance,
    Event,
    FinishUtterance,
    FsmConfig,
    Notify,
    PauseReply,
    Phase,
    ReplyAudioStarted,
    ReplyFailed,
    ReplyFinished,
    ResumeReply,
    SpeechEnded,
    SpeechStarted,
    StartConfirmTimer,
    StartReply,
    StartUtterance,
    State,
    StopReply,
    TextInput,
    TranscriptFinal,
    reply_failed,
    step,
)

CONFIG = FsmConfig(confirm_ms=300)
L, U, T, S, B = (Phase.LISTENING, Phase.USER_SPEAKING, Phase.THINKING, Phase.SPEAKING,
                 Phase.BARGED_IN)  # fmt: skip


@pytest.mark.parametrize(
    ("phase", "event", "next_phase", "actions"),
    [
        (L, SpeechStarted(), U, [StartUtterance()]),
        (L, SpeechEnded(), L, []),
        (U, SpeechEnded(), T, [FinishUtterance()]),
        (T, TranscriptFinal("hello"), T, [StartReply("hello")]),
        (T, TranscriptFinal("  "), L, []),
        (T, ReplyAudioStarted(), S, []),
        (T, SpeechStarted(), U, [StopReply(), Notify(ev.ReplyStopped("user kept talking")),
                                 StartUtterance()]),
        (S, ReplyFinished(), L, []),
        (S, SpeechStarted(), B, [PauseReply(), ClearPlayback(), Notify(ev.ReplyPaused()),
                                 StartUtterance(), StartConfirmTimer(token=1, ms=300)]),
        (B, SpeechEnded(), S, [DiscardUtterance(), ResumeReply(), Notify(ev.ReplyResumed())]),
        (B, ConfirmTimeout(token=0), U, [StopReply(), Notify(ev.ReplyStopped())]),
        (L, TextInput("hi"), T, [StartReply("hi")]),
        (S, TextInput("hi"), T, [StopReply(), ClearPlayback(),
                                 Notify(ev.ReplyStopped("text input")), StartReply("hi")]),
        (S, ReplyFailed("tts down"), L, [StopReply(), reply_failed("tts down")]),
        (L, ReplyFailed("llm down"), L, [reply_failed("llm down")]),
    ],
)  # fmt: skip
def test_transition_table(
    phase: Phase, event: Event, next_phase: Phase, actions: list[object]
) -> None:
    state, got = step(State(phase=phase), event, CONFIG)
    assert state.phase is next_phase
    assert got == actions


def test_barge_in_confirm_takes_the_turn_and_stale_timeouts_are_ignored() -> None:
    state, _ = step(State(phase=S), SpeechStarted(), CONFIG)
    assert state.phase is B
    stale = ConfirmTimeout(token=state.confirm_token - 1)
    assert step(state, stale, CONFIG) == (state, [])
    resumed, _ = step(state, SpeechEnded(), CONFIG)
    # A timer from the first barge-in fires after the reply resumed and was barged again.
    again, _ = step(resumed, SpeechStarted(), CONFIG)
    assert step(again, ConfirmTimeout(token=state.confirm_token), CONFIG)[0] == again
    confirmed, actions = step(again, ConfirmTimeout(token=again.confirm_token), CONFIG)
    assert confirmed.phase is U
    assert StopReply() in actions


EVENTS = st.one_of(
    st.just(SpeechStarted()),
    st.just(SpeechEnded()),
    st.builds(TranscriptFinal, st.sampled_from(["", "hello there"])),
    st.builds(TextInput, st.just("typed")),
    st.just(ReplyAudioStarted()),
    st.just(ReplyFinished()),
    st.builds(ReplyFailed, st.just("boom")),
    st.builds(ConfirmTimeout, st.integers(min_value=0, max_value=4)),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(EVENTS, max_size=40))
def test_invariants(events: list[Event]) -> None:
    state = State()
    paused = False  # a PauseReply not yet followed by ResumeReply or StopReply
    for event in events:
        state, actions = step(state, event, CONFIG)
        for action in actions:
            if isinstance(action, PauseReply):
                assert not paused, "a second PAUSE before the first was resolved"
                paused = True
            elif isinstance(action, ResumeReply):
                assert paused, "RESUME without a PAUSE"
                paused = False
            elif isinstance(action, StopReply):
                paused = False
        # No audio goes out while barged in: the reply is paused there (the session test
        # tests/integration/test_conversation.py checks no frame arrives after the clear).
        if state.phase is B:
            assert paused
        else:
            assert not paused, "every PAUSE is followed by RESUME or STOP before leaving BARGED_IN"


def test_no_dead_ends() -> None:
    """From every phase some event sequence leads back to LISTENING."""
    samples: list[Event] = [SpeechStarted(), SpeechEnded(), TranscriptFinal("x"),
                            TranscriptFinal(""), ReplyAudioStarted(), ReplyFinished(),
                            ReplyFailed("e"), ConfirmTimeout(1), TextInput("t")]  # fmt: skip
    for phase in Phase:
        seen = {phase}
        queue = deque([State(phase=phase, confirm_token=1)])
        reached = False
        while queue and not reached:
            state = queue.popleft()
            for event in samples:
                nxt, _ = step(state, event, CONFIG)
                if nxt.phase is L:
                    reached = True
                if nxt.phase not in seen:
                    seen.add(nxt.phase)
                    queue.append(nxt)
        assert reached, f"{phase} cannot reach LISTENING"
