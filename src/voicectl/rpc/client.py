"""A thin typed asyncio client for the voicectl TTS worker."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from voicectl.rpc.address import grpc_target
from voicectl.rpc.tls import aio_channel
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.rpc.v1 import tts_pb2_grpc as pb_grpc
from voicectl.tokens import ADMIN_TOKEN_ENV, TOKEN_ENV

AudioFrame = pb.AudioFrame
ControlResponse = pb.ControlResponse


# What a synthesis call takes as its text: one string, or chunks as they arrive.
TextSource = str | Iterable[str] | AsyncIterable[str]


@dataclass(frozen=True, kw_only=True)
class SynthesisRequest:
    """What to say and how; maps onto the first SynthesizeRequest (SessionConfig)."""

    session_id: str = ""
    model_id: str = ""
    voice: str = ""
    sample_rate: int = 0
    speed: float = 0.0
    target_rms_dbfs: float = 0.0
    lookahead_ms: int = 0

    def config_message(self) -> pb.SynthesizeRequest:
        return pb.SynthesizeRequest(
            config=pb.SessionConfig(
                session_id=self.session_id,
                model_id=self.model_id,
                voice=self.voice,
                sample_rate=self.sample_rate,
                options=pb.SynthesisOptions(
                    speed=self.speed,
                    target_rms_dbfs=self.target_rms_dbfs,
                    lookahead_ms=self.lookahead_ms,
                ),
            )
        )


# The worker's limit per TextChunk (worker/validation.py); longer text goes in pieces.
MAX_CHUNK_CHARS = 4096


def _chunks(text: str) -> Iterator[pb.SynthesizeRequest]:
    for start in range(0, len(text), MAX_CHUNK_CHARS):
        yield pb.SynthesizeRequest(text=pb.TextChunk(text=text[start : start + MAX_CHUNK_CHARS]))


async def _requests(
    request: SynthesisRequest, text: TextSource
) -> AsyncIterator[pb.SynthesizeRequest]:
    yield request.config_message()
    if isinstance(text, str):
        for message in _chunks(text):
            yield message
    elif isinstance(text, AsyncIterable):
        async for chunk in text:
            for message in _chunks(chunk):
                yield message
    else:
        for chunk in text:
            for message in _chunks(chunk):
                yield message
    yield pb.SynthesizeRequest(end=pb.EndOfInput())


class TTSClient:
    """``async with TTSClient("127.0.0.1:50051") as tts: async for f in tts.synthesize(...)``."""

    def __init__(
        self,
        target: str,
        *,
        channel: grpc.aio.Channel | None = None,
        token: str | None = None,
        admin_token: str | None = None,
    ) -> None:
        """``token`` and ``admin_token`` default to VOICECTL_TOKEN and VOICECTL_ADMIN_TOKEN:
        sent as ``authorization: Bearer`` metadata (docs/security.md)."""
        self.target = grpc_target(target)  # grpc://HOST:PORT and HOST:PORT alike
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self.admin_token = (
            admin_token if admin_token is not None else os.environ.get(ADMIN_TOKEN_ENV) or None
        )
        self.channel = channel or aio_channel(self.target)  # TLS when VOICECTL_WORKER_CA is set
        self.stub = pb_grpc.TTSStub(self.channel)
        self._health = health_pb2_grpc.HealthStub(self.channel)

    def _auth(self, *, admin: bool = False) -> tuple[tuple[str, str], ...] | None:
        """The bearer metadata for a call: the admin token first for LoadModel/UnloadModel."""
        chosen = (self.admin_token or self.token) if admin else (self.token or self.admin_token)
        return (("authorization", f"Bearer {chosen}"),) if chosen else None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close(None)

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the worker answers health checks with SERVING.

        A worker answers NOT_SERVING while it preloads models; this keeps asking.
        Raises grpc.aio.AioRpcError (DEADLINE_EXCEEDED) when nothing answers in time,
        TimeoutError when the worker answers but never becomes SERVING.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            reply = await self._health.Check(
                health_pb2.HealthCheckRequest(service="voicectl.v1.TTS"),
                timeout=max(0.05, deadline - loop.time()),
                wait_for_ready=True,
            )
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
            if loop.time() >= deadline:
                raise TimeoutError(f"worker {self.target} is not serving after {timeout:g} s")
            await asyncio.sleep(0.1)

    def synthesize(
        self,
        text: TextSource,
        request: SynthesisRequest | None = None,
        *,
        timeout: float | None = None,
    ) -> grpc.aio.StreamStreamCall[pb.SynthesizeRequest, pb.AudioFrame]:
        """Start a Synthesize stream; iterate the returned call for AudioFrames."""
        return self.stub.Synthesize(
            _requests(request or SynthesisRequest(), text), timeout=timeout, metadata=self._auth()
        )

    async def control(
        self, session_id: str, command: pb.ControlCommand.ValueType
    ) -> pb.ControlResponse:
        return await self.stub.Control(
            pb.ControlRequest(session_id=session_id, command=command), metadata=self._auth()
        )

    async def pause(self, session_id: str) -> pb.ControlResponse:
        return await self.control(session_id, pb.PAUSE)

    async def resume(self, session_id: str) -> pb.ControlResponse:
        return await self.control(session_id, pb.RESUME)

    async def stop(self, session_id: str) -> pb.ControlResponse:
        return await self.control(session_id, pb.STOP)

    async def list_models(self) -> pb.ListModelsResponse:
        return await self.stub.ListModels(pb.ListModelsRequest(), metadata=self._auth())

    async def load_model(
        self, model_id: str, *, ttl_seconds: int | None = None, pin: bool = False
    ) -> pb.ModelInfo:
        request = pb.LoadModelRequest(model_id=model_id, pin=pin)
        if ttl_seconds is not None:
            request.ttl_seconds = ttl_seconds
        return (await self.stub.LoadModel(request, metadata=self._auth(admin=True))).model

    async def unload_model(self, model_id: str, *, wait_if_in_use: bool = False) -> pb.ModelInfo:
        request = pb.UnloadModelRequest(model_id=model_id, wait_if_in_use=wait_if_in_use)
        return (await self.stub.UnloadModel(request, metadata=self._auth(admin=True))).model


async def collect_pcm(
    call: AsyncIterable[pb.AudioFrame],
) -> tuple[bytes, int, list[pb.AudioFrame]]:
    """Drain a Synthesize call: (all PCM bytes, sample rate, frames without their pcm)."""
    chunks: list[bytes] = []
    frames: list[pb.AudioFrame] = []
    rate = 0
    async for frame in call:
        chunks.append(frame.pcm)
        rate = frame.sample_rate
        meta = pb.AudioFrame()
        meta.CopyFrom(frame)
        meta.pcm = b""
        frames.append(meta)
    return b"".join(chunks), rate, frames
