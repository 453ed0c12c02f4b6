"""XTTS-v2 on a tiny random-weight checkpoint, through its real loading code and a real
worker: voices cloned from recorded human speech, streamed, paused, stopped.

The tiny model speaks noise, but the same noise every time (``top_k: 1``), so sessions
can be compared sample for sample.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import grpc
import numpy as np
import pytest

from tests.conftest import WorkerFactory
from voicectl.bench.tiny_xtts import TinyXtts
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.worker.adapters import AdapterUnavailable, resolve_adapter
from voicectl.worker.adapters.base import (
    CancelToken,
    ModelSpec,
    SynthesisCancelled,
    SynthesisOptions,
)
from voicectl.worker.config import WorkerConfig
from voicectl.worker.server import Worker, build_catalog
from voicectl.worker.voicepacks import load_voicepack

pytestmark = pytest.mark.slow

MODEL = "xtts:tiny"
TEXT = "Hello there, how can I help you today?"


@pytest.fixture(scope="module")
def spec(tiny_xtts: TinyXtts) -> ModelSpec:
    return load_voicepack(tiny_xtts.folder / "voicepack.yaml")


@pytest.fixture(scope="module")
def xtts(spec: ModelSpec) -> Any:
    from voicectl.worker.adapters.xtts import XttsAdapter

    adapter = XttsAdapter.load(spec)
    yield adapter
    adapter.unload()


async def speak(adapter: Any, voice: str, text: str = TEXT) -> np.ndarray:
    async def chunks() -> AsyncIterator[str]:
        yield text

    audio = [
        chunk
        async for chunk in adapter.stream(
            chunks(), voice=voice, options=SynthesisOptions(), cancel=CancelToken()
        )
    ]
    return np.concatenate(audio)


def test_cloned_voices_are_the_voicepacks_voices(spec: ModelSpec) -> None:
    assert spec.voices == ("jfk", "later")
    assert spec.default_voice == "jfk"


async def test_each_voice_speaks_its_own_way_and_the_same_each_time(xtts: Any) -> None:
    jfk = await speak(xtts, "jfk")
    again = await speak(xtts, "jfk")
    later = await speak(xtts, "later")
    assert len(jfk) > 0.5 * xtts.native_sample_rate
    assert np.array_equal(jfk, again)
    assert not np.array_equal(jfk[: len(later)], later[: len(jfk)])


async def test_a_stop_between_chunks_ends_the_segment(xtts: Any) -> None:
    cancel = CancelToken()
    settings = xtts.prepare(voice="jfk", options=SynthesisOptions())
    stream = xtts.synthesize_segment(TEXT, settings, cancel=cancel, joined=False)
    first = await anext(stream)
    cancel.cancel()
    with pytest.raises(SynthesisCancelled):
        await anext(stream)
    assert len(first) > 0


async def test_a_stream_cancelled_mid_step_is_closed_after_the_step(xtts: Any) -> None:
    """The task is cancelled while a chunk is being made in the pool: the generator must
    be closed once that step is done, not under it, and the model go on serving."""
    settings = xtts.prepare(voice="jfk", options=SynthesisOptions())
    stream = xtts.synthesize_segment(TEXT, settings, cancel=CancelToken(), joined=False)
    step = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)  # inside the first step (it takes a few hundred ms here)
    step.cancel()
    with pytest.raises(asyncio.CancelledError):
        await step
    assert len(await speak(xtts, "jfk")) > 0


async def test_two_streams_on_one_model_each_keep_their_own_prompt(xtts: Any) -> None:
    """Interleaved steps of a short and a long segment give what each gives alone (XTTS
    keeps the prompt of the stream it serves on the model)."""
    settings = xtts.prepare(voice="jfk", options=SynthesisOptions())
    short, long = "Hi there.", "The quick brown fox jumps over the lazy dog, and runs."

    async def alone(text: str) -> list[np.ndarray]:
        return [c async for c in xtts.synthesize_segment(text, settings, cancel=CancelToken(),
                                                          joined=False)]  # fmt: skip

    expected_short, expected_long = await alone(short), await alone(long)
    a = xtts.synthesize_segment(short, settings, cancel=CancelToken(), joined=False)
    b = xtts.synthesize_segment(long, settings, cancel=CancelToken(), joined=False)
    got_a, got_b = [await anext(a)], [await anext(b)]  # b's prompt is on the model now
    got_a += [chunk async for chunk in a]
    got_b += [chunk async for chunk in b]
    assert np.array_equal(np.concatenate(got_a), np.concatenate(expected_short))
    assert np.array_equal(np.concatenate(got_b), np.concatenate(expected_long))


def test_a_voice_never_cloned_names_the_command(xtts: Any) -> None:
    with pytest.raises(ValueError, match="voice 'ana' has not been cloned") as err:
        xtts.prepare(voice="ana", options=SynthesisOptions())
    assert "voicectl voices add ana --model xtts:tiny --reference REF.wav" in str(err.value)


def test_bad_params_name_the_key(spec: ModelSpec) -> None:
    from voicectl.worker.adapters.xtts import XttsAdapter

    with pytest.raises(ValueError, match="unknown key 'topk'"):
        XttsAdapter.load(replace(spec, params={**spec.params, "topk": 1}))
    with pytest.raises(ValueError, match="language 'xx' is not one of the checkpoint's: en"):
        XttsAdapter.load(replace(spec, params={**spec.params, "language": "xx"}))


def test_without_the_extra_the_error_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "voicectl.worker.adapters.xtts", raising=False)
    monkeypatch.setitem(sys.modules, "TTS.tts.models.xtts", None)
    with pytest.raises(AdapterUnavailable, match="uv sync --extra xtts"):
        resolve_adapter("xtts")


@pytest.fixture
async def xtts_worker(make_worker: WorkerFactory, tiny_xtts: TinyXtts) -> Worker:
    config = WorkerConfig(voicepacks_dir=tiny_xtts.voicepacks)
    return await make_worker(build_catalog(config), default_model="mock:sine", max_loaded=4)


async def test_pause_resume_through_the_worker_is_bit_identical(xtts_worker: Worker) -> None:
    request = SynthesisRequest(model_id=MODEL, voice="later", lookahead_ms=200)
    async with TTSClient(xtts_worker.address) as client:
        await client.wait_ready(timeout=10)
        reference, _, _ = await collect_pcm(client.synthesize(TEXT, request))
        call = client.synthesize(TEXT, replace(request, session_id="xtts-pause"))
        received: list[bytes] = []
        async for frame in call:
            received.append(frame.pcm)
            if len(received) == 3:
                paused = await client.pause("xtts-pause")
                assert paused.state == pb.SESSION_STATE_PAUSED
                await asyncio.sleep(0.5)
                await client.resume("xtts-pause")
        models = {m.model_id: m for m in (await client.list_models()).models}
    assert b"".join(received) == reference
    assert models[MODEL].capabilities.voice_cloning
    assert list(models[MODEL].voices) == ["jfk", "later"]


async def test_an_unknown_voice_is_refused_by_the_worker(xtts_worker: Worker) -> None:
    async with TTSClient(xtts_worker.address) as client:
        await client.wait_ready(timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await collect_pcm(client.synthesize(TEXT, SynthesisRequest(model_id=MODEL,
                                                                       voice="ana")))  # fmt: skip
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config.voice 'ana' is not a voice of xtts:tiny; available: jfk, later" in (
        err.value.details() or ""
    )
