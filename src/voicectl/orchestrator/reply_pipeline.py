"""One reply's pipeline: LLM text -> worker Synthesize -> pacer -> client.

The session decides when a reply starts and stops (the FSM); this runs it: the history
the LLM sees, the text and audio events, and how a failure is told apart from a stop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import grpc

from voicectl.observability.logging import set_log_context
from voicectl.orchestrator.events import ReplyDone, ReplyFailover, ReplyText
from voicectl.orchestrator.llm import Conversation, LLMBridge, LLMError
from voicectl.orchestrator.reply import Reply
from voicectl.orchestrator.telemetry import SessionTelemetry
from voicectl.orchestrator.transport import SessionSettings, Transport
from voicectl.orchestrator.tts import TTSBackend
from voicectl.registry.failover import FailoverEvent, NoWorkerAvailable
from voicectl.rpc.client import SynthesisRequest
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.speakable import speakable

log = logging.getLogger(__name__)


class ReplyPipeline:
    def __init__(
        self,
        *,
        settings: SessionSettings,
        transport: Transport,
        tts: TTSBackend,
        llm: LLMBridge,
        conversation: Conversation,
        telemetry: SessionTelemetry,
        on_finished: Callable[[Reply], None],
        on_failed: Callable[[Reply, str, str], None],  # (reply, for the client, for the log)
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.tts = tts
        self.llm = llm
        self.conversation = conversation
        self.telemetry = telemetry
        self._on_finished = on_finished
        self._on_failed = on_failed

    async def _text(
        self, reply: Reply, text: str, spoken: list[str], llm_errors: list[LLMError],
        retract: str | None,
    ) -> AsyncIterator[str]:  # fmt: skip
        if retract is not None:  # the user carried on: their turn is `text`, whole
            self.conversation.retract_user(retract)
        self.conversation.add_user(text)
        asked = time.perf_counter()
        try:
            async for raw in self.llm.stream(self.conversation.messages()):
                delta = speakable(raw)  # an LLM's stray control characters are not speech
                # Stopped, its task not yet cancelled: a delta now would follow reply.stopped
                # and run into the next reply's text (a client read "YouYou said: ...").
                if not delta or reply.detached:
                    continue
                if not spoken:
                    self.telemetry.llm_first_token(time.perf_counter() - asked)
                spoken.append(delta)
                self.transport.send_event(ReplyText(delta))
                yield delta
        except LLMError as exc:
            # gRPC swallows request-iterator errors (it just cancels the call): keep it.
            llm_errors.append(exc)
            raise

    async def run(self, reply: Reply, text: str, retract: str | None) -> None:
        """The reply from the LLM's first token to its last frame played (or its end)."""
        set_log_context(request_id=reply.worker_session)  # one id per reply, as the worker sees
        pacer = reply.pacer
        spoken: list[str] = []
        llm_errors: list[LLMError] = []
        request = SynthesisRequest(
            session_id=reply.worker_session,
            model_id=self.settings.model_id,
            voice=self.settings.voice,
            sample_rate=self.settings.output_sample_rate,
        )
        try:
            pacer.start()
            stream = self.tts.open(
                self._text(reply, text, spoken, llm_errors, retract),
                request,
                session_key=self.settings.session_id,
                on_failover=self._failover,
            )
            reply.stream = stream
            async for frame in stream:
                if not (frame.final and frame.end_reason == pb.END_REASON_STOPPED):
                    pacer.push(frame.pcm)
            if llm_errors:
                raise llm_errors[0]
            pacer.end_of_input()
            await pacer.finished.wait()
            self.conversation.add_assistant("".join(spoken))
            self.telemetry.pacer_done(pacer)
            self.transport.send_event(ReplyDone())
            self._on_finished(reply)
        except (asyncio.CancelledError, grpc.aio.AioRpcError, NoWorkerAvailable, LLMError) as exc:
            task = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling():
                if spoken:  # keep the interrupted reply in the history, as far as it got
                    self.conversation.add_assistant("".join(spoken))
                raise  # the reply itself was stopped
            # The client hears what failed; addresses, URLs and catalogues stay in the log.
            if llm_errors:
                self._on_failed(reply, "llm: the language model did not answer",
                                f"llm: {llm_errors[0]}")  # fmt: skip
            elif isinstance(exc, grpc.aio.AioRpcError):
                code = exc.code().name
                detail = f"tts worker {self.tts.target}: {code}: {exc.details()}"
                self._on_failed(reply, f"tts: the voice worker failed ({code})", detail)
            elif isinstance(exc, NoWorkerAvailable):
                self._on_failed(reply, "tts: no voice worker is available", f"tts: {exc}")
            else:
                cancelled = "tts: the synthesis stream was cancelled"
                self._on_failed(reply, cancelled, cancelled)
        except Exception as exc:  # anything else ends the reply, never the session
            log.exception("session %s reply %d crashed", self.settings.session_id, reply.id)
            self._on_failed(reply, "the reply failed", f"{type(exc).__name__}: {exc}")

    def _failover(self, event: FailoverEvent) -> None:
        self.transport.send_event(ReplyFailover(
            from_worker=event.from_worker, to_worker=event.to_worker, reason=event.reason
        ))  # fmt: skip
