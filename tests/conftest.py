"""Shared fixtures: real in-process workers on ephemeral loopback ports, and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import pytest

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


@pytest.fixture
async def worker(make_worker: WorkerFactory) -> Worker:
    return await make_worker()


@pytest.fixture
async def client(worker: Worker) -> AsyncIterator[TTSClient]:
    async with TTSClient(worker.address) as tts:
        await tts.wait_ready(timeout=10)
        yield tts
