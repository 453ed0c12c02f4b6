"""The input side of a conversation: the user's audio in, FSM events and transcripts out.

Audio → 16 kHz → VAD → the FSM's speech events; the utterance buffer, its partial and
final transcripts, the speculative early final and the end-of-turn timing (UserTurn)
live here. The session owns the FSM and the reply: this side only reads the phase and
dispatches events to it, so a transport, the VAD or the ASR can change without touching
the reply's lifecycle.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from voicectl.audio.frames import FRAME_MS
from voicectl.orchestrator import events as ev
from voicectl.orchestrator import fsm
from voicectl.orchestrator.asr import AsrEngine, UtteranceTranscriber
from voicectl.orchestrator.policy import SessionPolicy, VadThresholds
from voicectl.orchestrator.silero import SileroStream
from voicectl.orchestrator.telemetry import SessionTelemetry
from voicectl.orchestrator.turns import continues_turn
from voicectl.orchestrator.user_turn import UserTurn
from voicectl.orchestrator.vad import InputResampler, VadEvent, VoiceActivityDetector

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], None]


class InputHost(Protocol):
    """What the input side needs of its session: the FSM's phase, a way to step it,
    and the client."""

    @property
    def phase(self) -> fsm.Phase: ...

    def dispatch(self, event: fsm.Event) -> None: ...

    def send_event(self, event: ev.ServerEvent) -> None: ...


class SpeechInput:
    """One session's listening ear. ``generation`` is the one counter that makes a
    transcript still being decoded stale (a typed turn or a discarded utterance)."""

    def __init__(
        self,
        *,
        host: InputHost,
        input_sample_rate: int,
        asr: AsrEngine,
        policy: SessionPolicy,
        telemetry: SessionTelemetry,
        spawn: Spawn,
    ) -> None:
        self._host = host
        self._policy = policy
        self._telemetry = telemetry
        self._spawn = spawn
        self._resampler = InputResampler(input_rate=input_sample_rate)
        first = policy.thresholds[fsm.Phase.LISTENING]
        uses_silero = any(t.speech_prob is not None for t in policy.thresholds.values())
        self._vad = VoiceActivityDetector(
            aggressiveness=policy.vad_aggressiveness,
            start_frames=first.start_frames,
            stop_frames=first.stop_frames,
            min_rms_dbfs=first.min_rms_dbfs,
            speech_prob=first.speech_prob,
            silero=SileroStream() if uses_silero else None,
        )
        self._transcriber = UtteranceTranscriber(
            engine=asr,
            partial_interval_ms=policy.partial_interval_ms,
            on_decode=telemetry.decoded,
        )
        self._turn = UserTurn(
            transcriber=self._transcriber,
            endpointing=policy.endpointing,
            speculate_after_frames=policy.speculate_after_frames,
            on_end=self._turn_ended,
        )
        self.generation = 0
        # Arrival times of the last input frames: the onset's first frame is a few back.
        self._frame_times: deque[float] = deque(maxlen=64)
        self.onset_at = 0.0  # when the speech that started last began
        self.speech_ended_at: float | None = None  # the clock of voice-to-voice, until read
        self._partial_running = False
        self._last_word_at: float | None = None  # of the turn that ended last
        self._turn_ended_at: float | None = None
        self._continuing = False  # the speech now starting carries on that turn
        self._retract: str | None = None  # the user turn the next reply replaces
        self._last_final = ""  # the last transcript.final sent

    # ---------------------------------------------------------------- audio in

    def push(self, pcm: bytes) -> None:
        """One message of the user's audio at the session's input rate."""
        arrived = time.perf_counter()
        for frame in self._resampler.push(pcm):
            # A pause inside the user's turn stays in the utterance: the turn may go on.
            self._transcriber.push(frame, in_speech=self._vad.in_speech or self._turn.pausing)
            self._frame_times.append(arrived)
            event = self._vad.process(frame)
            self._turn.track(
                holding_turn=self._host.phase is fsm.Phase.USER_SPEAKING,
                in_speech=self._vad.in_speech,
                frame_is_speech=self._vad.last_is_speech,
            )
            if event is VadEvent.SPEECH_START:
                self._speech_started()
            elif event is VadEvent.SPEECH_END:
                self.speech_ended_at = arrived
                if self._host.phase is fsm.Phase.USER_SPEAKING:
                    silent = self._thresholds().stop_frames * FRAME_MS / 1000
                    self._turn.pause(started_at=arrived - silent)
                else:
                    self._host.dispatch(fsm.SpeechEnded())
            if (
                self._vad.in_speech
                and self._host.phase is fsm.Phase.USER_SPEAKING
                and not self._partial_running
            ):
                self._partial_running = True  # one partial at a time, no task per frame
                self._spawn(self._partial())

    def _speech_started(self) -> None:
        start_frames = min(len(self._frame_times), self._thresholds().start_frames)
        self.onset_at = self._frame_times[-start_frames]
        if self._turn.pausing:  # the pause was inside the turn
            self._turn.resume(at=self.onset_at)
            return
        self._continuing = self._host.phase in fsm.REPLY_PHASES and continues_turn(
            turn_ended_at=self._turn_ended_at, onset_at=self.onset_at,
            config=self._policy.endpointing,
        )  # fmt: skip
        self._host.dispatch(fsm.SpeechStarted())

    def _thresholds(self) -> VadThresholds:
        return self._policy.thresholds[self._host.phase]

    def _turn_ended(self, last_word_at: float) -> None:
        self._last_word_at = last_word_at
        self._turn_ended_at = time.perf_counter()
        self._host.dispatch(fsm.SpeechEnded())

    async def _partial(self) -> None:
        try:
            text = await self._transcriber.maybe_partial()
            if text:
                log.debug("partial transcript: %r", text)
                self._host.send_event(ev.TranscriptPartial(text))
        finally:
            self._partial_running = False

    # ------------------------------------------------ what the FSM tells it to do

    def phase_changed(self, before: fsm.Phase, after: fsm.Phase) -> None:
        """Each phase listens with its own VAD thresholds; a turn that ended is reset."""
        if before is fsm.Phase.USER_SPEAKING:  # the turn ended (or was taken over)
            self._turn.reset()
        t = self._policy.thresholds[after]
        self._vad.set_thresholds(start_frames=t.start_frames, stop_frames=t.stop_frames,
                                 min_rms_dbfs=t.min_rms_dbfs,
                                 speech_prob=t.speech_prob)  # fmt: skip

    def typed_turn(self) -> None:
        """The user typed a turn: a transcript in flight is stale, nothing carries on."""
        self.generation += 1
        self._turn_ended_at = None

    def start_utterance(self) -> None:
        self._transcriber.start_utterance(continue_previous=self._continuing)
        if self._continuing and self._last_word_at is not None:
            self._turn.carry_on(paused_s=self.onset_at - self._last_word_at)
        self._continuing = False

    def discard_utterance(self) -> None:
        """A false start: nothing of it carries into the next turn."""
        self.generation += 1
        self._transcriber.cancel()
        self._turn.reset()

    async def finish_utterance(self) -> None:
        """The turn's final transcript to the client, then to the FSM (unless stale)."""
        generation = self.generation
        carried_on = self._transcriber.continued and bool(self._last_final.strip())
        previous = self._last_final if carried_on else None
        text = await self._transcriber.finish()
        if generation != self.generation:
            return  # a typed turn or a new utterance superseded this one meanwhile
        if not text.strip():
            self.speech_ended_at = None  # no reply follows: nothing to time
        if self.speech_ended_at is not None:
            self._telemetry.final_transcript(time.perf_counter() - self.speech_ended_at)
        if previous is not None:  # one turn with the previous final: the client replaces it
            self._retract = previous
        self._last_final = text
        self._host.send_event(ev.TranscriptFinal(text, continues=previous is not None))
        self._host.dispatch(fsm.TranscriptFinal(text))

    def take_retract(self) -> str | None:
        """The user turn the reply about to start replaces (the conversation drops it)."""
        retract, self._retract = self._retract, None
        return retract

    def take_speech_ended_at(self) -> float | None:
        """When the user stopped speaking, once: the first reply frame after it times
        voice-to-voice."""
        ended, self.speech_ended_at = self.speech_ended_at, None
        return ended

    def close(self) -> None:
        self._turn.reset()
        self._transcriber.cancel()
