"""One conversation: the I/O shell around the pure FSM.

The input side (speech_input.py: VAD, ASR, turn ends) turns the user's audio into FSM
events; this module executes the FSM's actions and runs the reply's lifecycle (LLM →
worker Synthesize → pacer → client, barge-in). ``dispatch`` is synchronous, so a
barge-in PAUSE stops the pacer in the same step that saw the speech onset: control
never waits behind audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Coroutine
from typing import Any

from voicectl.observability.metrics import OrchestratorMetrics
from voicectl.orchestrator import events as ev
from voicectl.orchestrator import fsm
from voicectl.orchestrator.asr import AsrEngine
from voicectl.orchestrator.llm import Conversation, LLMBridge
from voicectl.orchestrator.pacer import Pacer
from voicectl.orchestrator.policy import SessionPolicy
from voicectl.orchestrator.reply import Reply
from voicectl.orchestrator.reply_pipeline import ReplyPipeline
from voicectl.orchestrator.speech_input import SpeechInput
from voicectl.orchestrator.telemetry import BargeInRecord, SessionTelemetry
from voicectl.orchestrator.transport import AudioIn, BadInput, SessionSettings, TextIn, Transport
from voicectl.orchestrator.tts import TTSBackend

log = logging.getLogger(__name__)


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
        self._tasks: set[asyncio.Task[None]] = set()
        self._reply: Reply | None = None  # the reply in flight, if any
        self._reply_count = 0
        self._closing = False
        self._timers: list[asyncio.TimerHandle] = []
        self.input = SpeechInput(
            host=self, input_sample_rate=settings.input_sample_rate, asr=asr, policy=policy,
            telemetry=self.telemetry, spawn=self._spawn,
        )  # fmt: skip
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
                    self.input.push(message.pcm)
                elif isinstance(message, TextIn):
                    self.transport.send_event(ev.TranscriptFinal(message.text))
                    self.input.typed_turn()
                    self.dispatch(fsm.TextInput(message.text))
                elif isinstance(message, BadInput):
                    self._error(message.code, message.message)
        finally:
            await self.close()

    async def close(self) -> None:
        self._closing = True  # from here on no event starts anything new
        self.input.close()
        for timer in self._timers:
            timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._cleanup_reply(self._detach_reply())

    # -------------------------------------------------------------------- FSM

    @property
    def phase(self) -> fsm.Phase:
        return self.state.phase

    def send_event(self, event: ev.ServerEvent) -> None:
        self.transport.send_event(event)

    def dispatch(self, event: fsm.Event) -> None:
        """Step the FSM and carry out its actions (synchronously where it matters)."""
        if self._closing:
            return
        before = self.state.phase
        self.state, actions = fsm.step(self.state, event, self._fsm_config)
        if before is fsm.Phase.BARGED_IN and self.state.phase is fsm.Phase.USER_SPEAKING:
            self.telemetry.barge_in_outcome("stopped")
        if self.state.phase is not before:
            log.debug("session %s: %s -> %s on %s", self.settings.session_id, before.value,
                      self.state.phase.value, type(event).__name__)  # fmt: skip
            self.input.phase_changed(before, self.state.phase)
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
            self.input.start_utterance()
        elif isinstance(action, fsm.DiscardUtterance):
            self.input.discard_utterance()
        elif isinstance(action, fsm.FinishUtterance):
            self._spawn(self.input.finish_utterance())
        elif isinstance(action, fsm.StartConfirmTimer):
            loop = asyncio.get_running_loop()
            self._timers.append(
                loop.call_later(action.ms / 1000, self.dispatch, fsm.ConfirmTimeout(action.token))
            )
        elif isinstance(action, fsm.Notify):
            self.transport.send_event(action.event)

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
        retract = self.input.take_retract()
        reply.task = asyncio.create_task(self._pipeline.run(reply, text, retract))

    def _on_first_frame(self, reply: Reply) -> None:
        if reply is not self._reply:
            return
        speech_ended_at = self.input.take_speech_ended_at()
        if speech_ended_at is not None:
            self.telemetry.voice_to_voice(time.perf_counter() - speech_ended_at)
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
            onset_frame_at=self.input.onset_at,
            paused_at=time.perf_counter(),
            frames_taken_back=taken,
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
