"""The gRPC face of the worker: Synthesize, Control and the model RPCs.

Each RPC turns RequestError into a gRPC status with an actionable message, so
one bad client never disturbs another session.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, suppress
from typing import TypeVar

import grpc
from google.protobuf.message import DecodeError

from voicectl.observability.logging import set_log_context
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.worker.adapters import AdapterUnavailable, capabilities_of
from voicectl.worker.adapters.base import Capabilities, ModelSpec
from voicectl.worker.errors import RequestError, invalid, quoted
from voicectl.worker.model_entry import ModelEntry
from voicectl.worker.models import ModelManager
from voicectl.worker.request_stream import (
    MalformedRequest,
    drain_requests,
    expect_config,
    parse_synthesize_request,
    read_text,
)
from voicectl.worker.session import (
    EndReason,
    SessionTable,
    StreamState,
    SynthesisSession,
)
from voicectl.worker.validation import (
    SessionDefaults,
    validate_config,
)

log = logging.getLogger(__name__)

SERVICE_NAME = "voicectl.v1.TTS"
Req = TypeVar("Req")
Resp = TypeVar("Resp")


_STATE_TO_PB = {
    StreamState.STREAMING: pb.SESSION_STATE_STREAMING,
    StreamState.PAUSED: pb.SESSION_STATE_PAUSED,
    StreamState.STOPPED: pb.SESSION_STATE_STOPPED,
}


class StreamObserver:
    """Hooks for metrics; the default does nothing."""

    def stream_started(self, model_id: str) -> None:
        """A stream acquired its model and starts generating."""

    def first_frame(self, model_id: str, seconds: float, *, since_call: float) -> None:
        """The first frame was handed to gRPC: ``seconds`` after the model was acquired
        (what synthesis costs), ``since_call`` after the call arrived (what the caller
        waited: a model load and waiting for it included)."""

    def stream_ended(
        self, model_id: str, *, frames: int, audio_seconds: float, wall_seconds: float
    ) -> None:
        """The stream ended (completed, stopped, failed or cancelled)."""


class TTSService:
    """Implements the voicectl.v1.TTS service over a ModelManager and a SessionTable."""

    def __init__(
        self,
        *,
        manager: ModelManager,
        sessions: SessionTable,
        defaults: SessionDefaults,
        observer: StreamObserver | None = None,
    ) -> None:
        self.manager = manager
        self.sessions = sessions
        self.defaults = defaults
        self.observer = observer or StreamObserver()
        self.draining = False

    # ------------------------------------------------------------- Synthesize

    async def synthesize(
        self,
        requests: AsyncIterator[pb.SynthesizeRequest | MalformedRequest],
        context: grpc.aio.ServicerContext[pb.SynthesizeRequest, pb.AudioFrame],
    ) -> AsyncGenerator[pb.AudioFrame, None]:
        session_id: str | None = None
        called = time.perf_counter()
        try:
            if self.draining:
                raise RequestError(
                    grpc.StatusCode.UNAVAILABLE,
                    "worker is shutting down: retry on another worker",
                )
            first = await anext(aiter(requests), None)
            config = expect_config(first)
            model_id = config.model_id or self.manager.default_model_id
            spec = self.manager.entry(model_id).spec
            params = validate_config(
                config,
                spec=spec,
                native_rate=spec.sample_rate,
                defaults=self.defaults,
                speed_control=self._capabilities(spec) is not False,
            )
            if not self.sessions.reserve(params.session_id, owner=context.peer()):
                raise RequestError(
                    grpc.StatusCode.ALREADY_EXISTS,
                    f"config.session_id {quoted(params.session_id)} is already streaming; "
                    "use a unique id per Synthesize call",
                )
            session_id = params.session_id
            set_log_context(
                session_id=session_id, model_id=model_id, request_id=uuid.uuid4().hex[:12]
            )
            async with self.manager.acquire(model_id) as adapter:
                session = SynthesisSession(params=params, adapter=adapter)
                self.sessions.attach(session)
                log.info(
                    "session %s started: model=%s rate=%d", session_id, model_id, params.sample_rate
                )
                reader = asyncio.create_task(read_text(requests, session))
                started = time.perf_counter()
                self.observer.stream_started(model_id)
                try:
                    async with aclosing(session.frames()) as frames:
                        async for frame in frames:
                            if frame.sequence == 0:
                                now = time.perf_counter()
                                self.observer.first_frame(
                                    model_id, now - started, since_call=now - called
                                )
                            yield pb.AudioFrame(
                                session_id=session_id,
                                sequence=frame.sequence,
                                sample_offset=frame.sample_offset,
                                sample_rate=params.sample_rate,
                                pcm=frame.pcm,
                                final=frame.final,
                                end_reason=_end_reason(frame.end_reason),
                            )
                finally:
                    reader.cancel()
                    with suppress(asyncio.CancelledError):
                        await reader
                    self.observer.stream_ended(
                        model_id,
                        frames=session.next_sequence,
                        audio_seconds=session.next_sample_offset / params.sample_rate,
                        wall_seconds=time.perf_counter() - started,
                    )
                log.info("session %s ended after %d frames", session_id, session.next_sequence)
        except RequestError as exc:
            log.info("session %s rejected: %s", session_id or "?", exc.message)
            await drain_requests(requests)
            await context.abort(exc.code, exc.message)
        finally:
            if session_id is not None:
                self.sessions.release(session_id)

    # ---------------------------------------------------------------- Control

    async def control(
        self, request: pb.ControlRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.ControlResponse:
        if not self.sessions.owned_by(request.session_id, context.peer()):
            raise RequestError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"session {quoted(request.session_id)} was opened by another connection: "
                "only the client that opened a stream may pause, resume or stop it",
            )
        session = self.sessions.get(request.session_id)
        if session is None:
            if request.session_id in self.sessions:
                raise RequestError(
                    grpc.StatusCode.UNAVAILABLE,
                    f"session {quoted(request.session_id)} is still loading its model; "
                    "retry shortly",
                )
            raise RequestError(
                grpc.StatusCode.NOT_FOUND,
                f"no active session {quoted(request.session_id)} "
                "(finished, stopped or never started)",
            )
        if request.command == pb.PAUSE:
            session.pause()
        elif request.command == pb.RESUME:
            session.resume()
        elif request.command == pb.STOP:
            session.stop()
        else:
            raise invalid("command must be PAUSE, RESUME or STOP")
        return pb.ControlResponse(
            session_id=session.session_id,
            state=_STATE_TO_PB[session.state],
            next_sequence=session.next_sequence,
            next_sample_offset=session.next_sample_offset,
        )

    # ----------------------------------------------------------------- Models

    async def list_models(
        self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.ListModelsResponse:
        return pb.ListModelsResponse(
            models=[self.model_info(e) for e in self.manager.entries()],
            default_model_id=self.manager.default_model_id,
        )

    async def load_model(
        self, request: pb.LoadModelRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.LoadModelResponse:
        ttl = float(request.ttl_seconds) if request.HasField("ttl_seconds") else None
        entry = await self.manager.load(request.model_id, ttl_seconds=ttl, pin=request.pin)
        return pb.LoadModelResponse(model=self.model_info(entry))

    async def unload_model(
        self, request: pb.UnloadModelRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.UnloadModelResponse:
        entry = await self.manager.unload(request.model_id, wait_if_in_use=request.wait_if_in_use)
        return pb.UnloadModelResponse(model=self.model_info(entry))

    def _capabilities(self, spec: ModelSpec) -> bool | None:
        """Whether the model honours a speed; None when its extra is not installed."""
        try:
            return capabilities_of(spec, self.manager.catalog).speed_control
        except AdapterUnavailable:  # the load will fail and say what to install
            return None

    def model_info(self, entry: ModelEntry) -> pb.ModelInfo:
        spec = entry.spec
        try:
            caps: Capabilities | None = capabilities_of(spec, self.manager.catalog)
        except AdapterUnavailable:  # extra not installed: report the model without them
            caps = None
        ttl = self.manager.effective_ttl(entry)
        return pb.ModelInfo(
            model_id=spec.model_id,
            adapter=spec.adapter,
            state=entry.state.to_pb(),
            refcount=entry.refcount,
            pinned=entry.pinned,
            last_used_unix_ms=int(entry.last_used_wall * 1000),
            memory_bytes=entry.memory_bytes,
            load_time_ms=entry.load_time_ms,
            warmup_time_ms=entry.warmup_time_ms,
            ttl_seconds=0 if ttl is None else max(1, math.ceil(ttl)),
            native_sample_rate=spec.sample_rate,
            voices=list(spec.voices),
            capabilities=None
            if caps is None
            else pb.Capabilities(
                streaming_text_input=caps.streaming_text_input,
                voice_cloning=caps.voice_cloning,
                lora=caps.lora,
                devices=list(caps.devices),
            ),
            error=entry.error,
        )


def _end_reason(reason: EndReason | None) -> pb.EndReason.ValueType:
    if reason is EndReason.COMPLETED:
        return pb.END_REASON_COMPLETED
    if reason is EndReason.STOPPED:
        return pb.END_REASON_STOPPED
    return pb.END_REASON_UNSPECIFIED


def _unary(
    method: Callable[[Req, grpc.aio.ServicerContext[object, object]], Awaitable[Resp]],
    message: type[Req],
) -> Callable[[bytes, grpc.aio.ServicerContext[object, object]], Awaitable[Resp]]:
    """The handler parses the request itself: a deserializer that raises makes gRPC answer
    UNKNOWN and log a traceback; bad bytes are the client's error, INVALID_ARGUMENT."""

    async def handler(data: bytes, context: grpc.aio.ServicerContext[object, object]) -> Resp:
        set_log_context(request_id=uuid.uuid4().hex[:12])
        try:
            request = message.FromString(data)  # type: ignore[attr-defined]
        except DecodeError as exc:
            why = str(exc)
            if "UTF-8" in why:
                why = "a string field is not valid UTF-8: encode text as UTF-8"
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"malformed {message.__name__}: {why}"
            )
            raise  # unreachable: abort raises
        try:
            return await method(request, context)
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
            raise  # unreachable: abort raises

    return handler


def rpc_handler(service: TTSService) -> grpc.GenericRpcHandler[object, object]:
    """Register the service with our own Synthesize deserializer (for UTF-8 errors)."""
    handlers = {
        "Synthesize": grpc.stream_stream_rpc_method_handler(
            service.synthesize,
            request_deserializer=parse_synthesize_request,
            response_serializer=pb.AudioFrame.SerializeToString,
        ),
        "Control": grpc.unary_unary_rpc_method_handler(
            _unary(service.control, pb.ControlRequest),
            response_serializer=pb.ControlResponse.SerializeToString,
        ),
        "ListModels": grpc.unary_unary_rpc_method_handler(
            _unary(service.list_models, pb.ListModelsRequest),
            response_serializer=pb.ListModelsResponse.SerializeToString,
        ),
        "LoadModel": grpc.unary_unary_rpc_method_handler(
            _unary(service.load_model, pb.LoadModelRequest),
            response_serializer=pb.LoadModelResponse.SerializeToString,
        ),
        "UnloadModel": grpc.unary_unary_rpc_method_handler(
            _unary(service.unload_model, pb.UnloadModelRequest),
            response_serializer=pb.UnloadModelResponse.SerializeToString,
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)
