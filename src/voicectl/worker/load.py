"""Routing-relevant load of a worker: queue depth and recent first-frame latency.

``MeteredTTSService`` wraps the servicer's Synthesize and records, per stream,
the time from the call to its first frame; ``LoadStats`` keeps a window of them.
The registry heartbeat publishes the mean, and routers read it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator

import grpc

from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.worker.models import ModelManager
from voicectl.worker.request_stream import MalformedRequest
from voicectl.worker.servicer import StreamObserver, TTSService
from voicectl.worker.session import SessionTable
from voicectl.worker.validation import SessionDefaults


class LoadStats:
    """Mean of the last ``window`` first-frame latencies, in milliseconds."""

    def __init__(self, window: int = 32) -> None:
        self._latencies: deque[float] = deque(maxlen=window)
        self.streams_started = 0

    def record_first_frame(self, latency_ms: float) -> None:
        self._latencies.append(latency_ms)

    @property
    def mean_latency_ms(self) -> float:
        if not self._latencies:
            return 0.0
        return sum(self._latencies) / len(self._latencies)


def session_counts(sessions: SessionTable) -> tuple[int, int]:
    """(active streams, streams waiting for their model) of a session table."""
    active = len(sessions.sessions())
    return active, len(sessions) - active


class MeteredTTSService(TTSService):
    """TTSService that measures first-frame latency for the registry."""

    def __init__(
        self,
        *,
        stats: LoadStats,
        manager: ModelManager,
        sessions: SessionTable,
        defaults: SessionDefaults,
        observer: StreamObserver | None = None,
    ) -> None:
        super().__init__(manager=manager, sessions=sessions, defaults=defaults, observer=observer)
        self.stats = stats

    async def synthesize(
        self,
        requests: AsyncIterator[pb.SynthesizeRequest | MalformedRequest],
        context: grpc.aio.ServicerContext[pb.SynthesizeRequest, pb.AudioFrame],
    ) -> AsyncGenerator[pb.AudioFrame, None]:
        started = time.perf_counter()
        self.stats.streams_started += 1
        first = True
        inner = super().synthesize(requests, context)
        try:
            async for frame in inner:
                if first:
                    first = False
                    self.stats.record_first_frame((time.perf_counter() - started) * 1000)
                yield frame
        finally:
            await inner.aclose()
