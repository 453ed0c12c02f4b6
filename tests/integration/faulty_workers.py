"""Misbehaving TTS workers as real servers on loopback ports.

- ``SilentTTS``: a gRPC server that accepts every call and never answers one.
- ``ProxyTTS``: a gRPC server in front of a real worker that passes its frames on late,
  slowly, or up to a point and then never again; its Control may hang.
- ``MuteListener``: a TCP port that accepts connections and never says a byte, so a
  gRPC channel to it never becomes ready.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from voicectl.orchestrator import events as ev
from voicectl.orchestrator.config import from_mapping
from voicectl.registry.base import Registry, WorkerRecord
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.rpc.v1 import tts_pb2_grpc as pb_grpc
from voicectl.talk.client import TalkClient


async def forever() -> None:
    await asyncio.get_running_loop().create_future()


class SilentTTS(pb_grpc.TTSServicer):
    """Takes the stream (and any Control) and sends nothing back until cancelled."""

    def __init__(self) -> None:
        self.streams = 0
        self.controls = 0

    async def Synthesize(  # noqa: N802 - the gRPC method name
        self,
        request_iterator: AsyncIterator[pb.SynthesizeRequest],
        context: grpc.aio.ServicerContext[pb.SynthesizeRequest, pb.AudioFrame],
    ) -> AsyncIterator[pb.AudioFrame]:
        self.streams += 1
        await anext(request_iterator)  # the SessionConfig
        await forever()
        yield pb.AudioFrame()  # never reached: makes this a stream handler

    async def Control(  # noqa: N802
        self,
        request: pb.ControlRequest,
        context: grpc.aio.ServicerContext[pb.ControlRequest, pb.ControlResponse],
    ) -> pb.ControlResponse:
        self.controls += 1
        await forever()
        raise AssertionError("unreachable")


class ProxyTTS(pb_grpc.TTSServicer):
    """A real worker's frames, ``first_delay`` s late, ``frame_delay`` s apart, and none
    after the first ``hang_after``; with ``hang_control``, Control never answers."""

    def __init__(
        self,
        upstream: str,
        *,
        first_delay: float = 0.0,
        frame_delay: float = 0.0,
        hang_after: int | None = None,
        hang_control: bool = False,
    ) -> None:
        self.channel = grpc.aio.insecure_channel(upstream)
        self.stub = pb_grpc.TTSStub(self.channel)
        self.first_delay = first_delay
        self.frame_delay = frame_delay
        self.hang_after = hang_after
        self.hang_control = hang_control
        self.sent = 0  # frames passed on, over all streams
        self.controls = 0

    async def Synthesize(  # noqa: N802
        self,
        request_iterator: AsyncIterator[pb.SynthesizeRequest],
        context: grpc.aio.ServicerContext[pb.SynthesizeRequest, pb.AudioFrame],
    ) -> AsyncIterator[pb.AudioFrame]:
        call = self.stub.Synthesize(request_iterator)
        count = 0
        try:
            async for frame in call:
                if count == self.hang_after:
                    await forever()
                await asyncio.sleep(self.first_delay if count == 0 else self.frame_delay)
                count += 1
                self.sent += 1
                yield frame
        finally:
            call.cancel()

    async def Control(  # noqa: N802
        self,
        request: pb.ControlRequest,
        context: grpc.aio.ServicerContext[pb.ControlRequest, pb.ControlResponse],
    ) -> pb.ControlResponse:
        self.controls += 1
        if self.hang_control:
            await forever()
        return await self.stub.Control(request)

    async def close(self) -> None:
        await self.channel.close(None)


@asynccontextmanager
async def serving(servicer: pb_grpc.TTSServicer) -> AsyncIterator[str]:
    """``servicer`` on a real gRPC server at 127.0.0.1:<free port>; yields the address."""
    server = grpc.aio.server()
    pb_grpc.add_TTSServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=0)
        if isinstance(servicer, ProxyTTS):
            await servicer.close()


class MuteListener:
    """Accepts TCP connections, reads what comes, writes nothing, never closes first."""

    def __init__(self) -> None:
        self.connections = 0
        self.received = 0  # bytes: the client's HTTP/2 preface, at least
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        while chunk := await reader.read(65536):
            self.received += len(chunk)
        writer.close()

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        try:
            yield f"127.0.0.1:{port}"
        finally:
            self._server.close()
            for writer in self._writers:
                writer.close()
            await self._server.wait_closed()


async def register_fake(
    registry: Registry, worker_id: str, address: str, model_id: str, *, ttl: float = 60.0
) -> WorkerRecord:
    """Advertise a stand-in worker in ``registry`` as a healthy one holding ``model_id``."""
    host, port = address.rsplit(":", 1)
    now = time.time()
    record = WorkerRecord(
        worker_id=worker_id, host=host, port=int(port), adapters=("mock",),
        models={model_id: "ready"}, known_models=(model_id,), default_model=model_id,
        started_at=now, last_heartbeat=now,
    )  # fmt: skip
    await registry.register(record, ttl=ttl)
    return record


# ------------------------------------------------------- what the fault tests share

MODEL = "mock:fast"  # deterministic: the same text gives the same samples
RATE = 16000
REQUEST = SynthesisRequest(model_id=MODEL, sample_rate=RATE)
# Through the configuration keys, as an operator would set them.
SHORT = from_mapping({"tts": {"first_frame_timeout_s": 1.0, "stall_timeout_s": 0.5}})
TIMEOUTS = SHORT.tts_timeouts
# Generous bounds: each fault is found within about a second; 20 s means "it hung".
HUNG = 20.0


async def reference(address: str, text: str) -> bytes:
    """What an uninterrupted synthesis of ``text`` on a healthy worker sounds like."""
    async with TTSClient(address) as tts:
        pcm, _, _ = await collect_pcm(tts.synthesize(text, REQUEST))
    return pcm


def reply_text(talk: TalkClient) -> str:
    return "".join(r.event.text for r in talk.received(ev.ReplyText))


async def words(text: str) -> AsyncIterator[str]:
    """``text`` word by word, as an LLM streams it."""
    for index, word in enumerate(text.split(" ")):
        yield word if index == 0 else f" {word}"


async def ticking(talk: TalkClient) -> None:
    """Drive the client's virtual speaker in real time."""
    while True:
        talk.playback.tick()
        await asyncio.sleep(0.005)
