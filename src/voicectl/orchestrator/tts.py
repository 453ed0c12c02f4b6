"""Where replies are synthesized: one fixed worker, or workers routed through a registry.

The session sees one interface either way: ``open()`` a reply stream, iterate its
frames, ``pause()``/``resume()`` it. A reply is stopped by closing its iteration (the
session cancels the task that iterates it): the gRPC call is cancelled and the worker
frees the session at once, with no Control round trip. The routed backend adds failover: a
reply whose worker dies continues on another one and the session hears about it
through ``on_failover`` (it tells the client), not through an exception.

Both give up on a worker that stays silent while it owes audio (rpc/frame_watch.py)
and bound each Control call, so a hung worker ends the reply with an error, never
hangs it: the fixed worker's reply then fails with DEADLINE_EXCEEDED.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Protocol

import grpc

from voicectl.registry.failover import FailoverEvent, RoutedSynthesizer
from voicectl.registry.textlog import TextLog
from voicectl.rpc.client import SynthesisRequest, TTSClient
from voicectl.rpc.frame_watch import FrameTimeouts, FrameWatch, WorkerSilent
from voicectl.rpc.v1 import tts_pb2 as pb

log = logging.getLogger(__name__)

CONTROL_RETRIES = 50
CONTROL_RETRY_S = 0.02


class ReplyStream(Protocol):
    def __aiter__(self) -> AsyncIterator[pb.AudioFrame]: ...
    async def pause(self) -> None: ...
    async def resume(self) -> None: ...


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

    def release(self, session_key: str) -> None:
        """The conversation is over: forget what was kept for it (its sticky worker)."""

    async def close(self) -> None: ...


class DirectReply:
    """A reply on one worker; Control failures are ignored (the stream may have ended).

    A worker silent for longer than ``timeouts`` allow ends the reply with a
    DEADLINE_EXCEEDED ``grpc.aio.AioRpcError``, as if the call had a deadline."""

    def __init__(
        self,
        client: TTSClient,
        text: AsyncIterable[str],
        request: SynthesisRequest,
        timeouts: FrameTimeouts,
    ) -> None:
        self._client = client
        self._session_id = request.session_id
        self._request = request
        self._timeouts = timeouts
        self._watch = FrameWatch(timeouts)
        self._text = TextLog(self._watch.text(text))  # read as it comes, timed as it comes
        self._call: grpc.aio.StreamStreamCall[pb.SynthesizeRequest, pb.AudioFrame] | None = None

    def __aiter__(self) -> AsyncIterator[pb.AudioFrame]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[pb.AudioFrame]:
        self._text.start()
        call = self._call = self._client.synthesize(self._text.replay(), self._request)
        self._watch.call_started()
        frames = call.__aiter__()
        try:
            while True:
                try:
                    frame = await self._watch.next_frame(frames)
                except StopAsyncIteration:
                    return
                except WorkerSilent as exc:
                    raise grpc.aio.AioRpcError(
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        grpc.aio.Metadata(),
                        grpc.aio.Metadata(),
                        str(exc),
                        str(exc),
                    ) from None
                yield frame
        finally:
            call.cancel()
            await self._text.close()

    async def pause(self) -> None:
        self._watch.pause()  # a paused worker sends nothing: that is not a stall
        await self._control(pb.PAUSE)

    async def resume(self) -> None:
        self._watch.resume()
        await self._control(pb.RESUME)

    async def _control(self, command: pb.ControlCommand.ValueType) -> None:
        """Best effort within ``timeouts.control``, retried while the worker still
        attaches the session (UNAVAILABLE); NOT_FOUND means the stream already ended."""
        try:
            async with asyncio.timeout(self._timeouts.control):
                for _ in range(CONTROL_RETRIES):
                    try:
                        await self._client.control(self._session_id, command)
                        return
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() != grpc.StatusCode.UNAVAILABLE:
                            return
                    await asyncio.sleep(CONTROL_RETRY_S)
        except TimeoutError:
            log.warning("control %s on %s: no answer within %g s", command,
                        self._client.target, self._timeouts.control)  # fmt: skip


class DirectTTS:
    """Every reply goes to one worker address."""

    def __init__(self, target: str, *, timeouts: FrameTimeouts | None = None) -> None:
        self.target = target
        self.client = TTSClient(target)
        self.timeouts = timeouts or FrameTimeouts()

    def open(
        self,
        text: AsyncIterable[str],
        request: SynthesisRequest,
        *,
        session_key: str,
        on_failover: Callable[[FailoverEvent], None],
    ) -> ReplyStream:
        return DirectReply(self.client, text, request, self.timeouts)

    def release(self, session_key: str) -> None:
        """Nothing is kept per conversation for a fixed worker."""

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

    def release(self, session_key: str) -> None:
        """Unstick the conversation's worker: the router would keep one entry per
        conversation for the life of the process otherwise."""
        self.synthesizer.router.release(session_key)

    async def close(self) -> None:
        await self.synthesizer.close()
        await self.synthesizer.registry.close()
