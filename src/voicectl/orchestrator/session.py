"""One conversation: the I/O shell around the pure FSM.

Audio in → 16 kHz → VAD → FSM events; the FSM's actions drive ASR, the reply
(LLM → worker Synthesize → pacer → client) and barge-in. ``dispatch`` is
synchronous, so a barge-in PAUSE stops the pacer in the same step that saw the
speech onset: control never waits behind audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any

from voicectl.audio.frames import FRAME_MS
from voicectl.observability.metrics import OrchestratorMetrics
from voicectl.orchestrator import events as ev
from voicectl.orchestrator import fsm
from voicectl.orchestrator.asr import AsrEngine, UtteranceTranscriber
from voicectl.orchestrator.llm import Conversation, LLMBridge
from voicectl.orchestrator.pacer import Pacer
from voicectl.orchestrator.policy import SessionPolicy, VadThresholds
from voicectl.orchestrator.reply import Reply
from voicectl.orchestrator.reply_pipeline import ReplyPipeline
from voicectl.orchestrator.silero import SileroStream
from voicectl.orchestrator.telemetry import BargeInRecord, SessionTelemetry
from voicectl.orchestrator.transport import AudioIn, BadInput, SessionSettings, TextIn, Transport
from voicectl.orchestrator.tts import TTSBackend
from voicectl.orchestrator.turns import continues_turn
from voicectl.orchestrator.user_turn import UserTurn
from voicectl.orchestrator.vad import InputResampler, VadEvent, VoiceActivityDetector

log = logging.getLogger(__name__)

_NOTIFIED: dict[str, type[ev.ReplyPaused | ev.ReplyResumed | ev.ReplyStopped]] = {
    "reply.paused": ev.ReplyPaused, "reply.resumed": ev.ReplyResumed,
    "reply.stopped": ev.ReplyStopped,
}  # fmt: skip


def notified(action: fsm.Notify) -> ev.ServerEvent:
    """The event an FSM ``Notify`` sends: a reply's state change, or its failure."""
    if action.event == "error":
        return ev.Error(code="reply_failed", message=action.detail)
    if action.event == "reply.stopped":
        return ev.ReplyStopped(action.detail or None)
    return _NOTIFIED[action.event]()


class Session:
    """Runs one conversation until the client goes away."""

    def __init__(
        self,
        *,
        settings: SessionSettings,
        transport: Transport,
        tts: TTSBackend,
        asr: AsrEngine,
        llm: LLMBridge,
        policy: SessionPolicy,
        metrics: OrchestratorMetrics | None = None,
        system_prompt: str = "",
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.tts = tts
        self.llm = llm
        self.policy = policy
        own = transport.pacer_lookahead_frames  # the transport's, where it knows better
        self.lookahead_frames = policy.pacer_lookahead_frames if own is None else own
        self.state = fsm.State()
        self.conversation = Conversation(system_prompt=system_prompt or None)
        self.telemetry = SessionTelemetry(metrics)
        self.metrics = self.telemetry.metrics
        self._fsm_config = fsm.FsmConfig(confirm_ms=policy.confirm_ms)
        self._resampler = InputResampler(input_rate=settings.input_sample_rate)
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
            on_decode=self.telemetry.decoded,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._reply: Reply | None = None  # the reply in flight, if any
        self._reply_count = 0
        # Arrival times of the last input frames: the onset's first frame is a few back.
        self._speech_frame_times: deque[float] = deque(maxlen=64)
        self._speech_ended_at: float | None = None
        self._partial_running = False
        self._onset_at = 0.0
        self._utterance_generation = 0
        self._closing = False
        self._timers: list[asyncio.TimerHandle] = []
        self._turn = UserTurn(
            transcriber=self._transcriber,
            endpointing=policy.endpointing,
            speculate_after_frames=policy.speculate_after_frames,
            on_end=self._turn_ended,
        )
        self._last_word_at: float | None = None  # of the turn that ended last
        self._turn_ended_at: float | None = None
        self._continuing = False  # the speech now starting carries on that turn
        self._retract: str | None = None  # the user turn the next reply replaces
        self._last_final = ""  # the last transcript.final sent
        self._pipeline = ReplyPipeline(
            settings=settings, transport=transport, tts=tts, llm=llm,
            conversation=self.conversation, telemetry=self.telemetry,
            on_finished=self._reply_finished, on_failed=self._fail,
        )  # fmt: skip

    # -------------------------------------------------------------------- run

    async def run(self) -> None:
        """Consume the client's messages; clean up whatever the client leaves behind."""
        try:
            async for message in self.transport.incoming():
                if isinstance(message, AudioIn):
                    self._on_audio(message.pcm)
                elif isinstance(message, TextIn):
                    self.transport.send_event(ev.TranscriptFinal(message.text))
                    self._utterance_generation += 1  # a pending transcript is now stale
                    self._turn_ended_at = None  # a typed turn: nothing to continue
                    self.dispatch(fsm.TextInput(message.text))
                elif isinstance(message, BadInput):
                    self._error(message.code, message.message)
        finally:
            await self.close()

    async def close(self) -> None:
        self._closing = True  # from here on no event starts anything new
        self._turn.reset()
        for timer in self._timers:
            timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._cleanup_reply(self._detach_reply())
        self._transcriber.cancel()

    # ------------------------------------------------------------------ input

    def _on_audio(self, pcm: bytes) -> None:
        arrived = time.perf_counter()
        for frame in self._resampler.push(pcm):
            # A pause inside the user's turn stays in the utterance: the turn may go on.
            self._transcriber.push(frame, in_speech=self._vad.in_speech or self._turn.pausing)
            self._speech_frame_times.append(arrived)
            event = self._vad.process(frame)
            self._turn.track(
                holding_turn=self.state.phase is fsm.Phase.USER_SPEAKING,
                in_speech=self._vad.in_speech,
                frame_is_speech=self._vad.last_is_speech,
            )
            if event is VadEvent.SPEECH_START:
                self._onset_at = self._speech_frame_times[-self._vad_start_frames()]
                if self._turn.pausing:  # the pause was inside the turn
                    self._turn.resume(at=self._onset_at)
                else:
                    self._continuing = self.state.phase in fsm.REPLY_PHASES and continues_turn(
                        turn_ended_at=self._turn_ended_at, onset_at=self._onset_at,
                        config=self.policy.endpointing,
                    )  # fmt: skip
                    self.dispatch(fsm.SpeechStarted())
            elif event is VadEvent.SPEECH_END:
                self._speech_ended_at = arrived
                if self.state.phase is fsm.Phase.USER_SPEAKING:
                    silent = self._vad_thresholds().stop_frames * FRAME_MS / 1000
                    self._turn.pause(started_at=arrived - silent)
                else:
                    self.dispatch(fsm.SpeechEnded())
            if (
                self._vad.in_speech
                and self.state.phase is fsm.Phase.USER_SPEAKING
                and not self._partial_running
            ):
                self._partial_running = True  # one partial at a time, no task per frame
                self._spawn(self._partial())

    def _vad_start_frames(self) -> int:
        return min(len(self._speech_frame_times), self._vad_thresholds().start_frames)

    def _vad_thresholds(self) -> VadThresholds:
        return self.policy.thresholds[self.state.phase]

    def _turn_ended(self, last_word_at: float) -> None:
        self._last_word_at = last_word_at
        self._turn_ended_at = time.perf_counter()
        self.dispatch(fsm.SpeechEnded())

    async def _partial(self) -> None:
        try:
            text = await self._transcriber.maybe_partial()
            if text:
                log.debug("partial transcript: %r", text)
                self.transport.send_event(ev.TranscriptPartial(text))
        finally:
            self._partial_running = False

    # -------------------------------------------------------------------- FSM

    def dispatch(self, event: fsm.Event) -> None:
        """Step the FSM and carry out its actions (synchronously where it matters)."""
        if self._closing:
            return
        before = self.state.phase
        self.state, actions = fsm.step(self.state, event, self._fsm_config)
        if before is fsm.Phase.BARGED_IN and self.state.phase is fsm.Phase.USER_SPEAKING:
            self.telemetry.barge_in_outcome("stopped")
        if self.state.phase is not before:
            if before is fsm.Phase.USER_SPEAKING:  # the turn ended (or was taken over)
                self._turn.reset()
            log.debug("session %s: %s -> %s on %s", self.settings.session_id, before.value,
                      self.state.phase.value, type(event).__name__)  # fmt: skip
            t = self._vad_thresholds()
            self._vad.set_thresholds(start_frames=t.start_frames, stop_frames=t.stop_frames,
                                     min_rms_dbfs=t.min_rms_dbfs,
                                     speech_prob=t.speech_prob)  # fmt: skip
        for action in actions:
            self._execute(action)

    def _execute(self, action: fsm.Action) -> None:
        if isinstance(action, fsm.PauseReply):
            self._pause_reply()
        elif isinstance(action, fsm.ClearPlayback):
            # Keep this many frames of the current reply; RESUME re-sends from there.
            played = None if self._reply is None else self._reply.pacer.delivered_frames
            self.transport.send_event(ev.Clear(played))
        elif isinstance(action, fsm.ResumeReply):
            self._resume_reply()
        elif isinstance(action, fsm.StopReply):
            self._spawn(self._cleanup_reply(self._detach_reply()))
        elif isinstance(action, fsm.StartReply):
            self._start_reply(action.text)
        elif isinstance(action, fsm.StartUtterance):
            self._transcriber.start_utterance(continue_previous=self._continuing)
            if self._continuing and self._last_word_at is not None:
                self._turn.carry_on(paused_s=self._onset_at - self._last_word_at)
            self._continuing = False
        elif isinstance(action, fsm.DiscardUtterance):
            self._utterance_generation += 1
            self._transcriber.cancel()
            self._turn.reset()  # a false start: nothing of it carries into the next turn
        elif isinstance(action, fsm.FinishUtterance):
            self._spawn(self._finish_utterance())
        elif isinstance(action, fsm.StartConfirmTimer):
            loop = asyncio.get_running_loop()
            self._timers.append(
                loop.call_later(action.ms / 1000, self.dispatch, fsm.ConfirmTimeout(action.token))
            )
        elif isinstance(action, fsm.Notify):
            self.transport.send_event(notified(action))

    async def _finish_utterance(self) -> None:
        generation = self._utterance_generation
        carried_on = self._transcriber.continued and bool(self._last_final.strip())
        previous = self._last_final if carried_on else None
        text = await self._transcriber.finish()
        if generation != self._utterance_generation:
            return  # a typed turn or a new utterance superseded this one meanwhile
        if not text.strip():
            self._speech_ended_at = None  # no reply follows: nothing to time
        if self._speech_ended_at is not None:
            self.telemetry.final_transcript(time.perf_counter() - self._speech_ended_at)
        if previous is not None:  # one turn with the previous final: the client replaces it
            self._retract = previous
        self._last_final = text
        self.transport.send_event(ev.TranscriptFinal(text, continues=previous is not None))
        self.dispatch(fsm.TranscriptFinal(text))

    # ------------------------------------------------------------------ reply

    def _start_reply(self, text: str) -> None:
        if self._reply is not None:
            self._spawn(self._cleanup_reply(self._detach_reply()))  # one reply at a time
        self._reply_count += 1
        reply = Reply(
            reply_id=self._reply_count,
            worker_session=f"{self.settings.session_id}.r{self._reply_count}",
            pacer=Pacer(
                send=self.transport.send_audio,
                lookahead_frames=self.lookahead_frames,
                on_first_frame=lambda: self._on_first_frame(reply),
            ),
        )
        self._reply = reply
        retract, self._retract = self._retract, None
        reply.task = asyncio.create_task(self._pipeline.run(reply, text, retract))

    def _on_first_frame(self, reply: Reply) -> None:
        if reply is not self._reply:
            return
        if self._speech_ended_at is not None:
            self.telemetry.voice_to_voice(time.perf_counter() - self._speech_ended_at)
            self._speech_ended_at = None
        self.transport.send_event(ev.ReplyStarted())
        self.dispatch(fsm.ReplyAudioStarted())

    def _reply_finished(self, reply: Reply) -> None:
        if reply is self._reply:
            self.dispatch(fsm.ReplyFinished())

    def _fail(self, reply: Reply, public: str, detail: str) -> None:
        """Log ``detail`` under an id; the client gets ``public`` and that id, to quote."""
        error_id = "e-" + secrets.token_hex(4)
        log.warning("session %s reply %d failed [%s]: %s", self.settings.session_id, reply.id,
                    error_id, detail)  # fmt: skip
        if reply is self._reply:
            self.dispatch(fsm.ReplyFailed(f"{public} (error {error_id} in the orchestrator's log)"))

    def _pause_reply(self) -> None:
        if self._reply is None:
            return
        self.transport.discard_pending_audio()
        taken = self._reply.pause()
        record = BargeInRecord(
            onset_frame_at=self._onset_at, paused_at=time.perf_counter(), frames_taken_back=taken
        )
        self.telemetry.barge_in(record)

    def _resume_reply(self) -> None:
        self.telemetry.barge_in_outcome("resumed")
        if self._reply is not None:
            self._reply.resume()

    def _detach_reply(self) -> Reply | None:
        """Forget the current reply at once (its late events become stale) and silence it."""
        reply, self._reply = self._reply, None
        if reply is not None:
            reply.detached = True
            self.transport.discard_pending_audio()
            reply.pacer.pause()  # silence now; the async cleanup follows
        return reply

    async def _cleanup_reply(self, reply: Reply | None) -> None:
        if reply is not None:
            self.telemetry.pacer_done(reply.pacer)
            await reply.cancel()

    # ---------------------------------------------------------------- helpers

    def _error(self, code: str, message: str) -> None:
        self.transport.send_event(ev.Error(code=code, message=message))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
