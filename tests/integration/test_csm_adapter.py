"""The Sesame CSM adapter on a tiny random-weight checkpoint, through its real loading code.

What it must keep: the audio it streams chunk by chunk is the audio stock
``generate(output_audio=True)`` returns (so chunks join with no seam), a stop ends
generation at the next frame, voices are speakers, and bad params name the field.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voicectl.bench.tiny_csm import TinyCsm
from voicectl.worker.adapters import AdapterUnavailable, resolve_adapter
from voicectl.worker.adapters.base import CancelToken, ModelSpec, SynthesisOptions
from voicectl.worker.voicepacks import load_voicepack

pytestmark = pytest.mark.slow

SENTENCE = "Hello there, how can I help you today?"
FRAME_SAMPLES = 1920  # 80 ms at 24 kHz: one frame of Mimi codes


@pytest.fixture(scope="module")
def spec(tiny_csm: TinyCsm) -> ModelSpec:
    return load_voicepack(tiny_csm.folder / "voicepack.yaml")


@pytest.fixture(scope="module")
def csm(spec: ModelSpec) -> Any:
    from voicectl.worker.adapters.csm import CsmAdapter

    adapter = CsmAdapter.load(spec)
    yield adapter
    adapter.unload()


async def segment_chunks(adapter: Any, text: str, voice: str = "default") -> list[np.ndarray]:
    settings = adapter.prepare(voice=voice, options=SynthesisOptions())
    return [
        chunk
        async for chunk in adapter.synthesize_segment(
            text, settings, cancel=CancelToken(), joined=False
        )
    ]


async def test_streamed_chunks_add_up_to_stock_generate_audio(csm: Any) -> None:
    chunks = await segment_chunks(csm, SENTENCE)
    settings = csm.prepare(voice="default", options=SynthesisOptions())
    stock = await asyncio.to_thread(csm.generate_audio, SENTENCE, settings)
    streamed = np.concatenate(chunks)
    print(f"\n{len(chunks)} chunks {[len(c) // FRAME_SAMPLES for c in chunks]} frames, "
          f"max |streamed - stock| {np.abs(streamed - stock).max():.2e}")  # fmt: skip
    assert len(chunks) >= 3, "the segment must arrive in chunks while it is generated"
    assert len(chunks[0]) == 2 * FRAME_SAMPLES, "first audio waits for two frames only"
    assert streamed.shape == stock.shape
    # Causal decoding: the prefixes' samples are the whole's, so no seam between chunks.
    np.testing.assert_allclose(streamed, stock, atol=1e-4 * float(np.abs(stock).max()))


async def test_voices_are_speakers(csm: Any) -> None:
    default = np.concatenate(await segment_chunks(csm, SENTENCE, "default"))
    again = np.concatenate(await segment_chunks(csm, SENTENCE, "default"))
    assert np.array_equal(default, again), "greedy generation says the same twice"
    # The voicepack's voices, in order, are CSM's speakers 0, 1...: "[1]text" in the prompt.
    tokenizer = csm._processor.tokenizer
    prompts = {
        voice: tokenizer.decode(csm._inputs(SENTENCE, csm.speaker_id(voice))["input_ids"][0])
        for voice in ("default", "second")
    }
    assert f"[0]{SENTENCE}" in prompts["default"]
    assert f"[1]{SENTENCE}" in prompts["second"]


async def test_stop_ends_generation_at_the_next_frame(
    csm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voicectl.worker.adapters import csm_stream

    frames = 0
    put = csm_stream.FrameBridge.put

    def counting_put(self: Any, value: Any) -> None:
        nonlocal frames
        frames += 1
        put(self, value)

    monkeypatch.setattr(csm_stream.FrameBridge, "put", counting_put)
    monkeypatch.setattr(csm, "_generate_kwargs", {**csm._generate_kwargs, "max_new_tokens": 450})
    cancel = CancelToken()
    settings = csm.prepare(voice="default", options=SynthesisOptions())
    stream = csm.synthesize_segment(SENTENCE * 4, settings, cancel=cancel, joined=False)
    first = await anext(stream)
    cancel.cancel()
    await stream.aclose()
    deadline = asyncio.get_running_loop().time() + 60
    while csm._gate.running:  # the stopped generation returns (at once, or after 450 frames)
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    print(f"\nframes sampled before the stop took: {frames}")
    assert len(first) > 0
    assert frames < 100, "the stopped generation must not run on to its 450 frames"


def bad(spec: ModelSpec, **params: object) -> str:
    from voicectl.worker.adapters.csm import CsmAdapter

    with pytest.raises(ValueError, match="csm:tiny") as err:
        CsmAdapter.load(replace(spec, params={**spec.params, **params}))
    return str(err.value)


def test_bad_params_name_the_field(spec: ModelSpec) -> None:
    assert "unknown key 'temprature'" in bad(spec, temprature=0.7)
    assert "device" in bad(spec, device="tpu")
    message = bad(spec, top_k=0)
    assert "top_k" in message
    assert "csm:tiny" in message
    assert "max_segment_seconds" in bad(spec, max_segment_seconds="long")


def test_files_must_name_the_config(spec: ModelSpec, tmp_path: Path) -> None:
    from voicectl.worker.adapters.csm import CsmAdapter

    with pytest.raises(ValueError, match=r"files\.config is missing"):
        CsmAdapter.load(replace(spec, files={"model": spec.files["model"]}))
    stray = tmp_path / "other.json"
    stray.write_text("{}")
    with pytest.raises(ValueError, match=r"must sit beside files\.config"):
        CsmAdapter.load(replace(spec, files={**spec.files, "other": stray}))


def test_cuda_without_a_gpu_is_a_clear_error(spec: ModelSpec) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: device cuda is valid here")
    assert "sees no CUDA GPU here; use cpu or auto" in bad(spec, device="cuda")


def test_without_the_extra_the_error_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "voicectl.worker.adapters.csm", raising=False)
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers fails
    with pytest.raises(AdapterUnavailable) as err:
        resolve_adapter("csm")
    assert "uv sync --extra csm" in str(err.value)
    assert "transformers" in str(err.value)


async def test_the_stream_speaks_every_segment(csm: Any) -> None:
    async def text() -> AsyncIterator[str]:
        for word in ("Sure. ", "The quick brown fox ", "jumps over the lazy dog."):
            yield word

    chunks = [
        c
        async for c in csm.stream(
            text(), voice="default", options=SynthesisOptions(), cancel=CancelToken()
        )
    ]
    seconds = sum(len(c) for c in chunks) / csm.native_sample_rate
    cutter = csm.segmenter()
    text_so_far = "Sure. The quick brown fox jumps over the lazy dog."
    segments = [*cutter.push(text_so_far), *cutter.flush()]
    # Segments short enough to be spoken within max_segment_seconds (1.5 s: 18 characters at
    # 12 a second, at least 20), each up to 1.5 s (the random model never ends one early).
    assert all(len(segment) <= 20 for segment in segments)
    assert 1.0 < seconds <= len(segments) * csm._max_frames * FRAME_SAMPLES / 24000


def test_chunk_sizes_must_grow(spec: ModelSpec) -> None:
    message = bad(spec, first_chunk_frames=8, max_chunk_frames=4)
    assert "first_chunk_frames (8) must be <= max_chunk_frames (4)" in message
