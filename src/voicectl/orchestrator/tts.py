"""Where replies are synthesized: one fixed worker, or workers routed through a registry.

The session sees one interface either way: ``open()`` a reply stream, iterate its
frames, ``pause()``/``resume()``/``stop()`` it. The routed backend adds failover: a
reply whose worker dies continues on another one and the session hears about it
through ``on_failover`` (it tells the client), not through an exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Protocol

import grpc

from voicectl.registry.failover import FailoverEvent, RoutedSynthesizer
from voicectl.rpc.client import SynthesisRequest, TTSClient
from voicectl.rpc.v1 import tts_pb2 as pb

CONTROL_RETRIES = 50
CONTROL_RETRY_S = 0.02


class ReplyStream(Protocol):
    def __aiter__(self) -> AsyncIterator[pb.AudioFrame]: ...
    async def pause(self) -> None: ...
    async def resume(self) -> None: ...
    async def stop(self) -> None: ...


class TTSBackend(Protocol):
    target: str

    def open(
        self,
        text: AsyncIterable[str],
        request: SynthesisRequest,
        *,
        session_key: str,
        on_failover: Callable[[FailoverEvent], None],
    ) -> ReplyStream: ...

    async def close(self) -> None: ...


class DirectReply:
    """A reply on one worker; Control failures are ignored (the stream may have ended)."""

    def __init__(self, client: TTSClient, text: AsyncIterable[str], request: SynthesisRequest):
        self._client = client
        self._session_id = request.session_id
        self._call = client.synthesize(text, request)

    def __aiter__(self) -> AsyncIterator[pb.AudioFrame]:
        return self._call.__aiter__()

    async def pause(self) -> None:
        await self._control(pb.PAUSE)

    async def resume(self) -> None:
        await self._control(pb.RESUME)

    async def _control(self, command: pb.ControlCommand.ValueType) -> None:
        """Best effort, retried while the worker still attaches the session (UNAVAILABLE);
        NOT_FOUND means the stream already ended, which is fine."""
        for _ in range(CONTROL_RETRIES):
            try:
                await self._client.control(self._session_id, command)
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    return
            await asyncio.sleep(CONTROL_RETRY_S)

    async def stop(self) -> None:
        self._call.cancel()  # the worker frees the session when the call goes away


class DirectTTS:
    """Every reply goes to one worker address."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.client = TTSClient(target)

    def open(
        self,
        text: AsyncIterable[str],
        request: SynthesisRequest,
        *,
        session_key: str,
        on_failover: Callable[[FailoverEvent], None],
    ) -> ReplyStream:
        return DirectReply(self.client, text, request)

    async def close(self) -> None:
        await self.client.close()


class RoutedTTS:
    """Replies routed by policy over the workers of a registry, with failover."""

    def __init__(self, synthesizer: RoutedSynthesizer, *, description: str) -> None:
        self.synthesizer = synthesizer
        self.target = description

    def open(
        self,
        text: AsyncIterable[str],
        request: SynthesisRequest,
        *,
        session_key: str,
        on_failover: Callable[[FailoverEvent], None],
    ) -> ReplyStream:
        return self.synthesizer.stream(
            text, request, session_key=session_key, on_failover=on_failover
        )

    async def close(self) -> None:
        await self.synthesizer.close()
        await self.synthesizer.registry.close()
