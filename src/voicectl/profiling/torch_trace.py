"""torch.profiler over one synthesis through an embedded worker, with a range per stage.

The worker code is not touched: once the worker has loaded (and warmed up) the
model, the model manager's entry for it gets ``StagedAdapter``, a proxy that
forwards to the real adapter and opens ``record_function`` ranges (plus NVTX
ranges when CUDA is present) around its stages; the real adapter is put back
before the worker stops. torch is optional: it is imported only here, lazily.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import grpc
import numpy as np
import numpy.typing as npt

from voicectl.profiling import ProfileError, TargetNotFound, ToolMissing, UsageError
from voicectl.rpc.client import SynthesisRequest, TTSClient
from voicectl.worker.adapters.base import (
    CancelToken,
    Capabilities,
    ModelSpec,
    SynthesisOptions,
    TTSAdapter,
)
from voicectl.worker.config import ConfigError, load_worker_config
from voicectl.worker.errors import RequestError
from voicectl.worker.server import Worker, build_catalog

TORCH_MISSING = "torch is not installed: uv sync --extra csm (the GPU voices' extra brings it)"
STAGE_REQUEST = "voicectl.request"  # client: config + text sent -> final frame received
STAGE_FIRST_AUDIO = "voicectl.first_audio"  # client: request start -> first frame received
STAGE_STREAM = "voicectl.model.stream"  # worker: the adapter's whole stream
STAGE_CHUNK = "voicectl.model.chunk"  # worker: awaiting one audio chunk from the model
STAGE_FRAME = "voicectl.worker.frame"  # worker: framing + look-ahead buffering of one chunk
STAGES = (STAGE_REQUEST, STAGE_FIRST_AUDIO, STAGE_STREAM, STAGE_CHUNK, STAGE_FRAME)


def import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ToolMissing(TORCH_MISSING) from exc
    return torch


class Ranges:
    """``record_function`` ranges, mirrored as NVTX ranges when CUDA is present.

    NVTX uses range_start/range_end (ids), not push/pop: push/pop is a per-thread
    stack, and coroutines interleave their ranges on the one event-loop thread.
    """

    def __init__(self, torch: Any) -> None:
        self._torch = torch
        self.nvtx = bool(torch.cuda.is_available())

    @contextmanager
    def range(self, name: str) -> Iterator[None]:
        with self._torch.profiler.record_function(name):
            handle = self._torch.cuda.nvtx.range_start(name) if self.nvtx else None
            try:
                yield
            finally:
                if handle is not None:
                    self._torch.cuda.nvtx.range_end(handle)


class StagedAdapter(TTSAdapter):
    """Forwards to a loaded adapter, with a range around each stage of its stream."""

    name = "staged"
    capabilities = Capabilities(streaming_text_input=True)

    def __init__(self, inner: TTSAdapter, ranges: Ranges) -> None:
        super().__init__(spec=inner.spec, native_sample_rate=inner.native_sample_rate)
        self.inner = inner
        self._ranges = ranges

    @classmethod
    def load(cls, spec: ModelSpec) -> Self:
        raise NotImplementedError("StagedAdapter wraps an adapter that is already loaded")

    async def stream(
        self,
        text: AsyncIterator[str],
        *,
        voice: str,
        options: SynthesisOptions,
        cancel: CancelToken,
    ) -> AsyncGenerator[npt.NDArray[np.generic], None]:
        inner = self.inner.stream(text, voice=voice, options=options, cancel=cancel)
        try:
            with self._ranges.range(STAGE_STREAM):
                while True:
                    with self._ranges.range(STAGE_CHUNK):
                        try:
                            chunk = await anext(inner)
                        except StopAsyncIteration:
                            return
                    # The session frames the chunk while this generator is suspended here.
                    with self._ranges.range(STAGE_FRAME):
                        yield chunk
        finally:
            aclose = getattr(inner, "aclose", None)
            if aclose is not None:
                await aclose()

    def unload(self) -> None:
        self.inner.unload()


@dataclass(frozen=True, kw_only=True)
class TorchTrace:
    """A written chrome trace and a summary of its stage ranges."""

    path: Path
    bytes: int
    events: int
    stages: dict[str, dict[str, float]]  # name -> {"count", "total_ms"}
    device: str
    nvtx: bool
    model_id: str
    frames: int
    audio_seconds: float
    torch_version: str

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "bytes": self.bytes,
            "events": self.events,
            "stages": self.stages,
            "device": self.device,
            "nvtx": self.nvtx,
            "model_id": self.model_id,
            "frames": self.frames,
            "audio_seconds": self.audio_seconds,
            "torch_version": self.torch_version,
        }


def profile_synthesis(*, model: str, text: str, out: Path) -> TorchTrace:
    """Synthesize ``text`` once on ``model`` under torch.profiler; write a chrome trace."""
    torch = import_torch()
    if not text.strip():
        raise UsageError("--text must not be empty")
    out.parent.mkdir(parents=True, exist_ok=True)
    ranges = Ranges(torch)
    frames, seconds = asyncio.run(_run(torch, ranges, model=model, text=text, out=out))
    events, stages = summarize(out)
    return TorchTrace(
        path=out,
        bytes=out.stat().st_size,
        events=events,
        stages=stages,
        device="cuda" if ranges.nvtx else "cpu",
        nvtx=ranges.nvtx,
        model_id=model,
        frames=frames,
        audio_seconds=round(seconds, 3),
        torch_version=str(torch.__version__),
    )


def summarize(path: Path) -> tuple[int, dict[str, dict[str, float]]]:
    """(number of complete events, {stage: {"count", "total_ms"}}) of a chrome trace."""
    trace = json.loads(path.read_text())
    events = [e for e in trace.get("traceEvents", []) if e.get("ph") == "X"]
    stages: dict[str, dict[str, float]] = {}
    for event in events:
        if event.get("name") in STAGES:
            stage = stages.setdefault(event["name"], {"count": 0, "total_ms": 0.0})
            stage["count"] += 1
            stage["total_ms"] = round(stage["total_ms"] + float(event.get("dur", 0)) / 1000, 3)
    return len(events), stages


def _profiler(torch: Any, cuda: bool) -> Any:
    activities = [torch.profiler.ProfilerActivity.CPU]
    if cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    extra: dict[str, object] = {}
    config = getattr(torch.profiler, "_ExperimentalConfig", None)
    if config is not None:
        # Ops in the worker's inference threads, not only in the calling thread.
        with suppress(TypeError):  # a torch without the option
            extra["experimental_config"] = config(profile_all_threads=True)
    return torch.profiler.profile(
        activities=activities, record_shapes=False, with_stack=False, **extra
    )


async def _run(
    torch: Any, ranges: Ranges, *, model: str, text: str, out: Path
) -> tuple[int, float]:
    try:
        config = load_worker_config(cli={"port": 0, "ttl": "never", "default_model": model})
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    catalog = build_catalog(config)
    if model not in catalog:
        raise TargetNotFound(f"unknown model {model!r}; available: {catalog.describe_ids()}")
    worker = Worker(config, catalog=catalog)
    try:
        await worker.start()
        entry = worker.manager.entry(model)
        inner = entry.adapter
        if inner is None:
            raise ProfileError(f"model {model!r} is not loaded")
        entry.adapter = StagedAdapter(inner, ranges)
        try:
            async with TTSClient(worker.address) as client:
                await client.wait_ready(timeout=30)
                with _profiler(torch, ranges.nvtx) as prof:
                    frames, seconds = await _synthesize(client, ranges, model=model, text=text)
        finally:
            entry.adapter = inner
    except RequestError as exc:
        raise ProfileError(exc.message) from exc
    except grpc.aio.AioRpcError as exc:
        raise ProfileError(f"synthesis failed: {exc.code().name}: {exc.details()}") from exc
    finally:
        await worker.stop(grace=0)
    prof.export_chrome_trace(str(out))
    return frames, seconds


async def _synthesize(
    client: TTSClient, ranges: Ranges, *, model: str, text: str
) -> tuple[int, float]:
    frames = samples = rate = 0
    with ranges.range(STAGE_REQUEST), ExitStack() as first:
        first.enter_context(ranges.range(STAGE_FIRST_AUDIO))
        async for frame in client.synthesize(text, SynthesisRequest(model_id=model)):
            first.close()
            frames += 1
            samples += len(frame.pcm) // 2
            rate = frame.sample_rate
    return frames, samples / rate if rate else 0.0
