"""Model manager lifecycle through the real gRPC model RPCs."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from typing import Self

import grpc
import pytest

from tests.conftest import LONG_TEXT, WorkerFactory, mock_catalog
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.worker import adapters
from voicectl.worker.adapters.base import ModelSpec
from voicectl.worker.adapters.mock import MockAdapter
from voicectl.worker.catalog import MOCK_SINE


class CountingAdapter(MockAdapter):
    """A mock whose load is slow and counted, to observe load deduplication."""

    name = "counting"
    loads = 0
    lock = threading.Lock()

    @classmethod
    def load(cls, spec: ModelSpec) -> Self:
        with cls.lock:
            cls.loads += 1
        time.sleep(0.3)
        return super().load(spec)


COUNTING = replace(MOCK_SINE, model_id="counting:one", adapter="counting")
BROKEN = replace(MOCK_SINE, model_id="mock:broken", params={"rtf": "fast please"})
EXTRA = [replace(MOCK_SINE, model_id=f"mock:m{i}") for i in range(3)]


@pytest.fixture(autouse=True)
def _register_counting_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        adapters.ADAPTERS,
        "counting",
        adapters.AdapterEntry("tests.integration.test_model_manager", "CountingAdapter", None, ()),
    )
    CountingAdapter.loads = 0


async def connect(address: str) -> TTSClient:
    client = TTSClient(address)
    await client.wait_ready(timeout=10)
    return client


def by_id(reply: pb.ListModelsResponse) -> dict[str, pb.ModelInfo]:
    return {m.model_id: m for m in reply.models}


async def test_list_shows_default_ready_pinned_and_others_available(
    make_worker: WorkerFactory,
) -> None:
    worker = await make_worker(mock_catalog(*EXTRA))
    async with await connect(worker.address) as client:
        reply = await client.list_models()
    models = by_id(reply)
    assert reply.default_model_id == "mock:fast"
    assert models["mock:fast"].state == pb.MODEL_STATE_READY
    assert models["mock:fast"].pinned
    assert models["mock:fast"].capabilities.streaming_text_input
    assert models["mock:m0"].state == pb.MODEL_STATE_AVAILABLE
    assert models["mock:fast"].native_sample_rate == 24000


async def test_load_and_unload(make_worker: WorkerFactory) -> None:
    worker = await make_worker(mock_catalog(*EXTRA))
    async with await connect(worker.address) as client:
        info = await client.load_model("mock:m0")
        assert info.state == pb.MODEL_STATE_READY
        assert info.last_used_unix_ms > 0
        info = await client.unload_model("mock:m0")
        assert info.state == pb.MODEL_STATE_AVAILABLE
        assert by_id(await client.list_models())["mock:m0"].state == pb.MODEL_STATE_AVAILABLE


async def test_concurrent_loads_share_one_load(make_worker: WorkerFactory) -> None:
    worker = await make_worker(mock_catalog(COUNTING))
    async with await connect(worker.address) as client:
        infos = await asyncio.gather(*(client.load_model("counting:one") for _ in range(5)))
        streams = await asyncio.gather(
            *(collect_pcm(client.synthesize("hi", SynthesisRequest(model_id="counting:one")))
              for _ in range(3))
        )  # fmt: skip
    assert CountingAdapter.loads == 1
    assert all(i.state == pb.MODEL_STATE_READY for i in infos)
    assert all(len(pcm) > 0 for pcm, _, _ in streams)


async def test_in_use_model_refuses_unload_or_waits(make_worker: WorkerFactory) -> None:
    worker = await make_worker()
    async with await connect(worker.address) as client:
        call = client.synthesize(LONG_TEXT, SynthesisRequest(session_id="u", model_id="mock:slow"))
        async for _ in call:
            break
        listed = by_id(await client.list_models())["mock:slow"]
        assert listed.refcount == 1
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.unload_model("mock:slow")
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "in use" in (err.value.details() or "")
        waiting = asyncio.create_task(client.unload_model("mock:slow", wait_if_in_use=True))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await client.stop("u")
        info = await waiting
        assert info.state == pb.MODEL_STATE_AVAILABLE
        assert info.refcount == 0


async def test_idle_ttl_evicts_over_grpc(make_worker: WorkerFactory) -> None:
    worker = await make_worker(mock_catalog(*EXTRA), ttl_seconds=0.3)
    async with await connect(worker.address) as client:
        await client.load_model("mock:m0")
        await client.load_model("mock:m1", ttl_seconds=0)  # 0 = never evict
        await asyncio.sleep(1.0)
        models = by_id(await client.list_models())
    assert models["mock:m0"].state == pb.MODEL_STATE_AVAILABLE
    assert models["mock:m1"].state == pb.MODEL_STATE_READY
    assert models["mock:fast"].state == pb.MODEL_STATE_READY  # the pinned default stays


async def test_lru_eviction_order_and_pinned_default_survives(make_worker: WorkerFactory) -> None:
    worker = await make_worker(mock_catalog(*EXTRA), max_loaded=3)
    async with await connect(worker.address) as client:
        await client.load_model("mock:m0")
        await client.load_model("mock:m1")
        await collect_pcm(client.synthesize("use m0", SynthesisRequest(model_id="mock:m0")))
        await client.load_model("mock:m2")  # evicts m1, the least recently used
        models = by_id(await client.list_models())
    ready = {mid for mid, m in models.items() if m.state == pb.MODEL_STATE_READY}
    assert ready == {"mock:fast", "mock:m0", "mock:m2"}


async def test_everything_pinned_or_in_use_refuses_with_resource_exhausted(
    make_worker: WorkerFactory,
) -> None:
    worker = await make_worker(mock_catalog(*EXTRA), max_loaded=2)
    async with await connect(worker.address) as client:
        await client.load_model("mock:m0", pin=True)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.load_model("mock:m1")
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_loaded" in (err.value.details() or "")


async def test_failing_load_reports_failed_and_others_keep_serving(
    make_worker: WorkerFactory,
) -> None:
    worker = await make_worker(mock_catalog(BROKEN))
    async with await connect(worker.address) as client:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.load_model("mock:broken")
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "rtf" in (err.value.details() or "")
        models = by_id(await client.list_models())
        assert models["mock:broken"].state == pb.MODEL_STATE_FAILED
        assert "rtf" in models["mock:broken"].error
        pcm, _, _ = await collect_pcm(client.synthesize("still here"))
        assert pcm


async def test_unknown_model_lists_available_ids(client: TTSClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.load_model("piper:klingon")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "mock:slow" in (err.value.details() or "")
