"""The conversation state machine: ``(state, event) -> (state, actions)``, no I/O.

One phase enum drives everything. Barge-in is two-stage: speech onset while the
agent speaks PAUSEs the reply at once and tells the client to flush its playback
buffer (fast and reversible); if the speech lasts past the confirm window the reply
is STOPPED and the user takes the turn; if it ends sooner (a cough, noise, echo)
the reply RESUMEs where it paused. The session shell executes the actions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from voicectl.orchestrator import events as ev


class Phase(enum.Enum):
    LISTENING = "listening"  # waiting for the user
    USER_SPEAKING = "user_speaking"  # the user has the turn; ASR is capturing
    THINKING = "thinking"  # transcript final, reply being prepared (LLM, first audio)
    SPEAKING = "speaking"  # reply audio is playing
    BARGED_IN = "barged_in"  # speech onset during the reply: paused, waiting to confirm


# The reply is being prepared or playing: speech now interrupts it.
REPLY_PHASES = frozenset({Phase.THINKING, Phase.SPEAKING})

# ----------------------------------------------------------------------- events


@dataclass(frozen=True)
class SpeechStarted:
    """VAD onset (after the per-phase onset threshold)."""


@dataclass(frozen=True)
class SpeechEnded:
    """VAD offset (after the per-phase hangover)."""


@dataclass(frozen=True)
class TranscriptFinal:
    text: str


@dataclass(frozen=True)
class TextInput:
    """A user turn given as text (the WebSocket ``text`` message)."""

    text: str


@dataclass(frozen=True)
class ReplyAudioStarted:
    """The first frame of the reply went out to the client."""


@dataclass(frozen=True)
class ReplyFinished:
    """The reply's last frame has played out."""


@dataclass(frozen=True)
class ReplyFailed:
    reason: str


@dataclass(frozen=True)
class ConfirmTimeout:
    """The barge-in confirm window elapsed; ``token`` names which window."""

    token: int


Event = (
    SpeechStarted
    | SpeechEnded
    | TranscriptFinal
    | TextInput
    | ReplyAudioStarted
    | ReplyFinished
    | ReplyFailed
    | ConfirmTimeout
)

# ---------------------------------------------------------------------- actions


@dataclass(frozen=True)
class StartUtterance:
    """Begin capturing the user's utterance for ASR (pre-roll included)."""


@dataclass(frozen=True)
class FinishUtterance:
    """End of the user's speech: produce the final transcript."""


@dataclass(frozen=True)
class DiscardUtterance:
    """The speech was not a turn (noise during a reply): drop the captured audio."""


@dataclass(frozen=True)
class StartReply:
    text: str


@dataclass(frozen=True)
class PauseReply:
    """PAUSE the worker and stop sending audio at once."""


@dataclass(frozen=True)
class ResumeReply:
    """RESUME the worker and the pacer from the first unplayed frame."""


@dataclass(frozen=True)
class StopReply:
    """STOP the worker, cancel the LLM stream, drop queued audio."""


@dataclass(frozen=True)
class ClearPlayback:
    """Tell the client to flush its playback buffer now."""


@dataclass(frozen=True)
class StartConfirmTimer:
    token: int
    ms: int


@dataclass(frozen=True)
class Notify:
    """Send the client one of the protocol's events (``reply.paused``, ``error``...)."""

    event: ev.ServerEvent


def reply_failed(reason: str) -> Notify:
    return Notify(ev.Error(code="reply_failed", message=reason))


Action = (
    StartUtterance
    | FinishUtterance
    | DiscardUtterance
    | StartReply
    | PauseReply
    | ResumeReply
    | StopReply
    | ClearPlayback
    | StartConfirmTimer
    | Notify
)


@dataclass(frozen=True)
class State:
    phase: Phase = Phase.LISTENING
    # Identifies the current confirm window, so a stale timeout is ignored.
    confirm_token: int = 0


@dataclass(frozen=True, kw_only=True)
class FsmConfig:
    confirm_ms: int = 400


def step(state: State, event: Event, config: FsmConfig) -> tuple[State, list[Action]]:
    """The transition function. Unhandled (state, event) pairs change nothing."""
    phase = state.phase
    at = replace  # readability: at(state, phase=...)

    if isinstance(event, ReplyFailed):
        if phase in (Phase.THINKING, Phase.SPEAKING, Phase.BARGED_IN):
            return at(state, phase=Phase.LISTENING), [StopReply(), reply_failed(event.reason)]
        return state, [reply_failed(event.reason)]

    if isinstance(event, TextInput):
        actions: list[Action] = []
        if phase in (Phase.THINKING, Phase.SPEAKING, Phase.BARGED_IN):
            actions += [StopReply(), ClearPlayback(), Notify(ev.ReplyStopped("text input"))]
        if phase in (Phase.USER_SPEAKING, Phase.BARGED_IN):
            actions.append(DiscardUtterance())
        return at(state, phase=Phase.THINKING), [*actions, StartReply(event.text)]

    if phase is Phase.LISTENING:
        if isinstance(event, SpeechStarted):
            return at(state, phase=Phase.USER_SPEAKING), [StartUtterance()]
        return state, []

    if phase is Phase.USER_SPEAKING:
        if isinstance(event, SpeechEnded):
            return at(state, phase=Phase.THINKING), [FinishUtterance()]
        return state, []

    if phase is Phase.THINKING:
        if isinstance(event, TranscriptFinal):
            if event.text.strip():
                return state, [StartReply(event.text)]
            return at(state, phase=Phase.LISTENING), []
        if isinstance(event, ReplyAudioStarted):
            return at(state, phase=Phase.SPEAKING), []
        if isinstance(event, ReplyFinished):
            return at(state, phase=Phase.LISTENING), []
        if isinstance(event, SpeechStarted):
            # The user went on talking before any reply audio: theirs is the turn.
            return at(state, phase=Phase.USER_SPEAKING), [
                StopReply(),
                Notify(ev.ReplyStopped("user kept talking")),
                StartUtterance(),
            ]
        return state, []

    if phase is Phase.SPEAKING:
        if isinstance(event, SpeechStarted):
            token = state.confirm_token + 1
            return State(phase=Phase.BARGED_IN, confirm_token=token), [
                PauseReply(),
                ClearPlayback(),
                Notify(ev.ReplyPaused()),
                StartUtterance(),
                StartConfirmTimer(token=token, ms=config.confirm_ms),
            ]
        if isinstance(event, ReplyFinished):
            return at(state, phase=Phase.LISTENING), []
        return state, []

    # Phase.BARGED_IN
    if isinstance(event, SpeechEnded):
        return at(state, phase=Phase.SPEAKING), [
            DiscardUtterance(),
            ResumeReply(),
            Notify(ev.ReplyResumed()),
        ]
    if isinstance(event, ConfirmTimeout) and event.token == state.confirm_token:
        return at(state, phase=Phase.USER_SPEAKING), [StopReply(), Notify(ev.ReplyStopped())]
    return state, []
