"""First audio latency (FAL): text in -> first AudioFrame out, through a worker over gRPC.

One run opens a Synthesize stream, sends the session config, then the whole
reply text and end-of-input back to back, as an orchestrator does with a short
reply. The clock starts just before the request iterator yields the text chunk
and stops when the first frame carrying audio arrives. The run also records
its wall time (text sent -> stream ended) and the audio duration received, whose
ratio is the real-time factor (RTF, < 1 is faster than real time).

The report's JSON shape (``FalReport.to_dict``) is documented in docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from voicectl.bench.stats import Summary
from voicectl.rpc.client import SynthesisRequest, TTSClient
from voicectl.rpc.v1 import tts_pb2 as pb

DEFAULT_TEXT = "Sure, I can help you with that. Let me check the schedule for tomorrow morning."
TARGET_P95_MS = 100.0
RUN_TIMEOUT_S = 120.0


class BenchError(RuntimeError):
    """The benchmark could not measure (e.g. a stream ended without audio)."""


@dataclass(frozen=True, kw_only=True)
class FalConfig:
    """What to measure. ``model_id`` empty means the worker's default model."""

    model_id: str = ""
    text: str = DEFAULT_TEXT
    runs: int = 20
    warmup: int = 3
    sample_rate: int = 0
    concurrency: int = 1

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ValueError(f"runs must be >= 1, got {self.runs}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        if not self.text.strip():
            raise ValueError("text must not be empty")


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """One measured Synthesize stream; times in seconds."""

    first_audio_s: float
    wall_s: float
    audio_s: float
    frames: int
    sample_rate: int

    @property
    def rtf(self) -> float:
        return self.wall_s / self.audio_s


def machine_info() -> dict[str, object]:
    return {
        "cpu_count": os.cpu_count() or 0,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


@dataclass(frozen=True, kw_only=True)
class FalReport:
    """All runs of one benchmark, summarized."""

    model_id: str
    worker: str
    config: FalConfig
    results: list[RunResult]
    machine: dict[str, object] = field(default_factory=machine_info)

    @property
    def first_audio_ms(self) -> Summary:
        return Summary.of([r.first_audio_s for r in self.results]).scaled(1000.0)

    @property
    def rtf(self) -> Summary:
        return Summary.of([r.rtf for r in self.results])

    @property
    def meets_target(self) -> bool:
        return self.first_audio_ms.p95 < TARGET_P95_MS

    def to_dict(self) -> dict[str, object]:
        audio = Summary.of([r.audio_s for r in self.results])
        return {
            "bench": "fal",
            "model_id": self.model_id,
            "worker": self.worker,
            "runs": len(self.results),
            "warmup": self.config.warmup,
            "concurrency": self.config.concurrency,
            "text_chars": len(self.config.text),
            "sample_rate": self.results[0].sample_rate,
            "first_audio_ms": self.first_audio_ms.to_dict(1),
            "rtf": self.rtf.to_dict(3),
            "audio_seconds_mean": round(audio.mean, 3),
            "target_p95_ms": TARGET_P95_MS,
            "meets_target": self.meets_target,
            "machine": self.machine,
        }


class _SendClock:
    """Set by the request iterator just before the text is handed to gRPC."""

    def __init__(self) -> None:
        self.text_sent: float | None = None


async def _requests(
    request: SynthesisRequest, text: str, clock: _SendClock
) -> AsyncIterator[pb.SynthesizeRequest]:
    yield request.config_message()
    clock.text_sent = time.perf_counter()
    yield pb.SynthesizeRequest(text=pb.TextChunk(text=text))
    yield pb.SynthesizeRequest(end=pb.EndOfInput())


async def measure_once(client: TTSClient, request: SynthesisRequest, text: str) -> RunResult:
    """Run one Synthesize stream to its end and time it. gRPC errors propagate."""
    clock = _SendClock()
    call = client.stub.Synthesize(_requests(request, text, clock), timeout=RUN_TIMEOUT_S)
    first: float | None = None
    samples = frames = rate = 0
    async for frame in call:
        if first is None and frame.pcm:
            first = time.perf_counter()
        samples += len(frame.pcm) // 2
        frames += 1
        rate = frame.sample_rate
    ended = time.perf_counter()
    if first is None or clock.text_sent is None or not rate or not samples:
        raise BenchError(f"the worker ended the stream without audio ({frames} frames)")
    return RunResult(
        first_audio_s=first - clock.text_sent,
        wall_s=ended - clock.text_sent,
        audio_s=samples / rate,
        frames=frames,
        sample_rate=rate,
    )


async def prepare(client: TTSClient, model_id: str) -> str:
    """Resolve the model id (empty: the worker's default) and load it, so that no
    measured run pays for the load. Raises gRPC NOT_FOUND for an unknown model."""
    if not model_id:
        model_id = (await client.list_models()).default_model_id
    await client.load_model(model_id)
    return model_id


async def _batch(
    client: TTSClient,
    request: SynthesisRequest,
    config: FalConfig,
    count: int,
    on_run: Callable[[RunResult], None] | None,
) -> list[RunResult]:
    """``count`` runs with at most ``config.concurrency`` streams in flight."""
    gate = asyncio.Semaphore(config.concurrency)

    async def one() -> RunResult:
        async with gate:
            result = await measure_once(client, request, config.text)
        if on_run is not None:
            on_run(result)
        return result

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def run_fal(
    client: TTSClient,
    config: FalConfig,
    *,
    worker: str,
    model_id: str | None = None,
    on_warmup: Callable[[RunResult], None] | None = None,
    on_run: Callable[[RunResult], None] | None = None,
) -> FalReport:
    """Do ``config.warmup`` unmeasured runs, then ``config.runs`` measured ones.

    ``model_id`` is the id ``prepare`` returned; None: call ``prepare`` first here.
    """
    if model_id is None:
        model_id = await prepare(client, config.model_id)
    request = SynthesisRequest(model_id=model_id, sample_rate=config.sample_rate)
    if config.warmup:
        await _batch(client, request, config, config.warmup, on_warmup)
    results = await _batch(client, request, config, config.runs, on_run)
    return FalReport(model_id=model_id, worker=worker, config=config, results=results)
