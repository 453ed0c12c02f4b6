"""``SegmentedAdapter``: any adapter that speaks whole phrases gets the first-phrase
segmentation from the base layer, with the mid-clause joins marked."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Self

import numpy as np
import pytest

from voicectl.worker.adapters.base import (
    Audio,
    CancelToken,
    Capabilities,
    ModelSpec,
    SynthesisOptions,
)
from voicectl.worker.adapters.mock import MockAdapter
from voicectl.worker.adapters.piper import PiperAdapter
from voicectl.worker.adapters.segmented import SegmentedAdapter
from voicectl.worker.segment import SegmenterConfig, TextSegmenter


class PhraseModel(SegmentedAdapter[float]):
    """A stand-in for a phrase-at-a-time model (XTTS, CosyVoice): one sample per word."""

    name = "phrases"
    capabilities = Capabilities(streaming_text_input=True)

    def __init__(self) -> None:
        super().__init__(spec=ModelSpec(model_id="phrases:test", adapter="phrases"),
                         native_sample_rate=16000)  # fmt: skip
        self.calls: list[tuple[str, float, bool]] = []
        self.prepared = 0

    @classmethod
    def load(cls, spec: ModelSpec) -> Self:
        return cls()

    def prepare(self, *, voice: str, options: SynthesisOptions) -> float:
        if voice != "default":
            raise ValueError(f"unknown voice {voice!r}")
        self.prepared += 1
        return options.speed

    async def synthesize_segment(
        self, segment: str, settings: float, *, cancel: CancelToken, joined: bool
    ) -> AsyncGenerator[Audio, None]:
        self.calls.append((segment, settings, joined))
        yield np.full(len(segment.split()), settings, dtype=np.float32)


async def chunks(*parts: str) -> AsyncIterator[str]:
    for part in parts:
        yield part


async def speak(model: PhraseModel, *parts: str, voice: str = "default") -> list[Audio]:
    options = SynthesisOptions(speed=1.5)
    stream = model.stream(chunks(*parts), voice=voice, options=options, cancel=CancelToken())
    return [audio async for audio in stream]


TEXT = "Okay so the quick brown fox jumps over the lazy dog. Then it runs away, fast."


async def test_segments_are_the_segmenters_and_arrive_as_text_streams_in() -> None:
    model = PhraseModel()
    audio = await speak(model, *[TEXT[i : i + 7] for i in range(0, len(TEXT), 7)])
    reference = TextSegmenter()
    expected = [*reference.push(TEXT), *reference.flush()]
    assert [segment for segment, _, _ in model.calls] == expected
    assert expected[0] == "Okay so the quick brown"  # a short first phrase, cut mid-clause
    assert [joined for _, _, joined in model.calls] == [False, True, False]
    assert model.prepared == 1
    assert {settings for _, settings, _ in model.calls} == {1.5}
    assert sum(a.size for a in audio) == len(TEXT.split())


async def test_bad_stream_settings_fail_before_any_text_is_spoken() -> None:
    model = PhraseModel()
    with pytest.raises(ValueError, match="unknown voice 'nobody'"):
        await speak(model, TEXT, voice="nobody")
    assert model.calls == []


async def test_closing_the_stream_stops_at_the_current_segment() -> None:
    model = PhraseModel()
    stream = model.stream(chunks(TEXT), voice="default", options=SynthesisOptions(),
                          cancel=CancelToken())  # fmt: skip
    await anext(stream)
    await stream.aclose()  # what the base layer does when a stream is stopped
    assert len(model.calls) == 1


def test_segmenter_config_is_the_adapters_and_capabilities_say_who_segments() -> None:
    model = PhraseModel()
    model.segmenter_config = SegmenterConfig(first_phrase_max_words=2)
    first = model.segmenter().push(TEXT)[0]
    assert first == "Okay so"
    assert issubclass(PiperAdapter, SegmentedAdapter)
    assert not PiperAdapter.capabilities.native_text_streaming  # the base layer cuts for it
    assert not issubclass(MockAdapter, SegmentedAdapter)
    assert MockAdapter.capabilities.native_text_streaming  # it speaks word by word itself
