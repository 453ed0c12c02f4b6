"""Sesame CSM and its LoRA adapters in a real worker, over real gRPC on loopback.

The tiny random-weight checkpoint (voicectl/bench/tiny_csm.py) speaks noise, but deterministic
noise (greedy sampling): what one session hears can be compared with another's exactly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.conftest import WorkerFactory
from voicectl.bench.tiny_csm import TinyCsm
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.worker.config import WorkerConfig
from voicectl.worker.server import Worker, build_catalog

pytestmark = pytest.mark.slow

BASE = "csm:tiny"
CALM, BRIGHT = f"{BASE}+lora:calm", f"{BASE}+lora:bright"
TEXT = "Hello there, how can I help you today? The quick brown fox jumps over the lazy dog."


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every CsmAdapter.load: a LoRA switch must never reload the base."""
    from voicectl.worker.adapters.csm import CsmAdapter

    calls: list[str] = []
    original = CsmAdapter.load.__func__  # type: ignore[attr-defined]

    def counting(cls: type[CsmAdapter], spec: Any) -> CsmAdapter:
        calls.append(spec.model_id)
        return original(cls, spec)  # type: ignore[no-any-return]

    monkeypatch.setattr(CsmAdapter, "load", classmethod(counting))
    return calls


@pytest.fixture
async def csm_worker(make_worker: WorkerFactory, tiny_csm: TinyCsm) -> Worker:
    config = WorkerConfig(voicepacks_dir=tiny_csm.voicepacks, lora_path=tiny_csm.loras)
    return await make_worker(build_catalog(config), default_model="mock:sine", max_loaded=6)


async def connect(worker: Worker) -> TTSClient:
    client = TTSClient(worker.address)
    await client.wait_ready(timeout=10)
    return client


async def say(client: TTSClient, model_id: str, text: str = TEXT, **request: Any) -> bytes:
    pcm, _, frames = await collect_pcm(
        client.synthesize(text, SynthesisRequest(model_id=model_id, **request))
    )
    assert frames[-1].end_reason == pb.END_REASON_COMPLETED
    return pcm


def states(reply: pb.ListModelsResponse) -> dict[str, pb.ModelInfo]:
    return {m.model_id: m for m in reply.models}


async def test_loras_switch_per_session_on_one_base(csm_worker: Worker, loads: list[str]) -> None:
    async with await connect(csm_worker) as client:
        base = await say(client, BASE)
        calm = await say(client, CALM)
        bright = await say(client, BRIGHT)
        calm_again = await say(client, CALM)
        base_again = await say(client, BASE)
        # Two sessions at once on different adapters of the one model.
        together = await asyncio.gather(say(client, BRIGHT), say(client, CALM))
        # Two sessions on one selection generate at once on the shared model.
        at_once = await asyncio.gather(say(client, CALM), say(client, CALM), say(client, BASE))
        models = states(await client.list_models())
    assert loads == [BASE], "the base loads once; LoRAs load onto it"
    assert len({base, calm, bright}) == 3, "each adapter changes what the model says"
    assert calm_again == calm
    assert base_again == base
    assert list(together) == [bright, calm], "a session keeps its adapter while others switch"
    assert list(at_once) == [calm, calm, base]
    for lora in (CALM, BRIGHT):
        assert models[lora].state == pb.MODEL_STATE_READY
        assert models[lora].adapter == "lora"
        assert models[lora].capabilities.lora
        assert models[lora].refcount == 0
    assert models[BASE].refcount == 2, "each resident LoRA holds its base"


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.1)


async def test_an_idle_lora_is_evicted_and_its_base_outlives_it(csm_worker: Worker) -> None:
    async with await connect(csm_worker) as client:

        async def state(model_id: str) -> int:
            return states(await client.list_models())[model_id].state

        await client.load_model(BASE, ttl_seconds=1)
        await client.load_model(CALM, ttl_seconds=3)
        await asyncio.sleep(2)  # past the base's own TTL: the LoRA holds it
        assert await state(BASE) == pb.MODEL_STATE_READY
        await wait_for(lambda: _is(state(CALM), pb.MODEL_STATE_AVAILABLE))
        await wait_for(lambda: _is(state(BASE), pb.MODEL_STATE_AVAILABLE))
        assert csm_worker.manager.entry(BASE).refcount == 0


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def test_unloading_the_base_takes_its_loras_unless_one_is_speaking(
    csm_worker: Worker,
) -> None:
    async with await connect(csm_worker) as client:
        await client.load_model(CALM)
        await client.load_model(BRIGHT)
        call = client.synthesize(TEXT, SynthesisRequest(session_id="busy", model_id=CALM))
        async for _ in call:
            break
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.unload_model(BASE)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert CALM in (err.value.details() or "")
        await client.stop("busy")
        async for _ in call:
            pass
        info = await client.unload_model(BASE)
        models = states(await client.list_models())
    assert info.state == pb.MODEL_STATE_AVAILABLE
    assert models[CALM].state == models[BRIGHT].state == pb.MODEL_STATE_AVAILABLE


async def test_pause_resume_is_bit_identical(csm_worker: Worker) -> None:
    request = SynthesisRequest(model_id=CALM, lookahead_ms=200)
    async with await connect(csm_worker) as client:
        reference = await say(client, CALM, lookahead_ms=200)
        call = client.synthesize(TEXT, replace(request, session_id="csm-pause"))
        received: list[pb.AudioFrame] = []
        three = asyncio.Event()

        async def reader() -> None:
            async for frame in call:
                received.append(frame)
                if len(received) >= 3:
                    three.set()

        task = asyncio.create_task(reader())
        await asyncio.wait_for(three.wait(), timeout=60)
        paused = await client.pause("csm-pause")
        await asyncio.sleep(0.5)
        assert len(received) == paused.next_sequence, "nothing is sent while paused"
        session = csm_worker.sessions.get("csm-pause")
        assert session is not None
        assert session.frames_generated - session.next_sequence <= 10
        await client.resume("csm-pause")
        await asyncio.wait_for(task, timeout=60)
    total = len(reference) // 640  # 20 ms frames at 16 kHz, 2 bytes a sample
    assert paused.next_sequence < total // 2
    assert b"".join(f.pcm for f in received) == reference


async def test_stop_frees_the_session_and_the_model(csm_worker: Worker) -> None:
    async with await connect(csm_worker) as client:
        call = client.synthesize(TEXT, SynthesisRequest(session_id="csm-stop", model_id=BASE))
        async for _ in call:
            break
        stopped = await client.stop("csm-stop")
        frames = [frame async for frame in call]
        models = states(await client.list_models())
    assert stopped.state == pb.SESSION_STATE_STOPPED
    assert frames[-1].end_reason == pb.END_REASON_STOPPED
    assert models[BASE].refcount == 0
    assert len(csm_worker.sessions) == 0


async def test_csm_refuses_a_speed_it_cannot_honour(csm_worker: Worker) -> None:
    async with await connect(csm_worker) as client:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await collect_pcm(client.synthesize(TEXT, SynthesisRequest(model_id=CALM, speed=1.5)))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config.options.speed 1.5: model csm:tiny+lora:calm speaks at its own pace" in (
        err.value.details() or ""
    )


@pytest.fixture
def odd_loras(tiny_csm: TinyCsm, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA whose weights are missing, and one whose short target names also match
    the Mimi codec's attention layers (as many real fine-tunes' configs do)."""
    from voicectl.bench.tiny_csm import save_lora

    root = tmp_path_factory.mktemp("odd-loras")
    save_lora(tiny_csm.folder, root / "broad", seed=3, target_modules=["q_proj", "v_proj"])
    save_lora(tiny_csm.folder, root / "broken", seed=4)
    (root / "broken" / "adapter_model.safetensors").unlink()
    return root


@pytest.fixture
async def odd_worker(make_worker: WorkerFactory, tiny_csm: TinyCsm, odd_loras: Path) -> Worker:
    config = WorkerConfig(voicepacks_dir=tiny_csm.voicepacks, lora_path=odd_loras)
    return await make_worker(build_catalog(config), default_model="mock:sine", max_loaded=6)


async def test_a_lora_that_fails_to_load_leaves_the_base_as_it_was(odd_worker: Worker) -> None:
    async with await connect(odd_worker) as client:
        before = await say(client, BASE)
        for _ in range(2):  # the same error again: nothing half-loaded is left behind
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await client.load_model(f"{BASE}+lora:broken")
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "failed to load" in (err.value.details() or "")
            assert "already exists" not in (err.value.details() or "")
        after = await say(client, BASE)
    assert after == before


async def test_a_lora_never_reaches_into_the_shared_codec(odd_worker: Worker) -> None:
    async with await connect(odd_worker) as client:
        base = await say(client, BASE)
        await client.load_model(f"{BASE}+lora:broad")
        broad = await say(client, f"{BASE}+lora:broad")
        base_again = await say(client, BASE)
    model = odd_worker.manager.entry(BASE).adapter._model  # type: ignore[union-attr]
    adapted = [name for name, _ in model.named_modules() if ".lora_A." in name]
    assert adapted, "the backbone's layers take the adapter"
    assert not [name for name in adapted if name.startswith("codec_model.")]
    assert broad != base
    assert base_again == base


async def test_unloading_a_base_while_its_lora_loads_does_not_hang(csm_worker: Worker) -> None:
    async with await connect(csm_worker) as client:
        await client.load_model(BASE)
        loading = asyncio.create_task(client.load_model(CALM))
        await asyncio.sleep(0.05)  # the LoRA holds the base; its weights are still coming
        info = await asyncio.wait_for(client.unload_model(BASE, wait_if_in_use=True), 30)
        await loading
        models = states(await client.list_models())
    assert info.state == pb.MODEL_STATE_AVAILABLE
    assert models[CALM].state == pb.MODEL_STATE_AVAILABLE
    assert csm_worker.manager.entry(BASE).refcount == 0


async def test_a_refused_unload_of_the_base_unloads_nothing(csm_worker: Worker) -> None:
    async with await connect(csm_worker) as client:
        await client.load_model(CALM)
        call = client.synthesize(TEXT, SynthesisRequest(session_id="base-busy", model_id=BASE))
        async for _ in call:
            break
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.unload_model(BASE)
        models = states(await client.list_models())
        await client.stop("base-busy")
        async for _ in call:
            pass
    assert "is in use by 1 stream(s)" in (err.value.details() or "")
    assert models[CALM].state == pb.MODEL_STATE_READY, "the refusal left the LoRA loaded"
