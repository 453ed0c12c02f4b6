"""Streaming text for models that speak whole phrases: the base layer segments it.

Most TTS models (Piper, XTTS-v2, CosyVoice 2 in its non-bidirectional mode) take a whole
utterance at a time. ``SegmentedAdapter.stream`` cuts the incoming text with
``TextSegmenter`` (a short first phrase for low first-audio latency, then sentences)
and asks the adapter for one segment at a time, telling it when a segment continues
one cut mid-clause so it can join the two without a pause. An adapter subclasses it and
implements ``synthesize_segment``; a model that consumes text as it streams overrides
``stream`` on ``TTSAdapter`` instead and says so (``native_text_streaming``).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Generic, TypeVar

from voicectl.worker.adapters.base import Audio, CancelToken, SynthesisOptions, TTSAdapter
from voicectl.worker.segment import SegmenterConfig, TextSegmenter, ends_mid_clause

StreamSettings = TypeVar("StreamSettings")


class SegmentedAdapter(TTSAdapter, Generic[StreamSettings]):
    """A TTS adapter fed one text segment at a time; see the module docstring."""

    segmenter_config: SegmenterConfig = SegmenterConfig()

    def segmenter(self) -> TextSegmenter:
        """The segmenter for a new stream (override to adapt its cuts, e.g. to load)."""
        return TextSegmenter(config=self.segmenter_config)

    @abc.abstractmethod
    def prepare(self, *, voice: str, options: SynthesisOptions) -> StreamSettings:
        """Per-stream settings (speaker, speed...), checked before any text is spoken."""

    @abc.abstractmethod
    def synthesize_segment(
        self, segment: str, settings: StreamSettings, *, cancel: CancelToken, joined: bool
    ) -> AsyncGenerator[Audio, None]:
        """Audio for one segment. ``joined``: it continues the previous segment, which
        was cut where no punctuation is, so no pause belongs between the two."""

    async def stream(
        self,
        text: AsyncIterator[str],
        *,
        voice: str,
        options: SynthesisOptions,
        cancel: CancelToken,
    ) -> AsyncGenerator[Audio, None]:
        settings = self.prepare(voice=voice, options=options)
        segments = self.stream_segments(text, settings, cancel=cancel)
        try:
            async for audio in segments:
                yield audio
        finally:
            await segments.aclose()

    async def stream_segments(
        self, text: AsyncIterator[str], settings: StreamSettings, *, cancel: CancelToken
    ) -> AsyncGenerator[Audio, None]:
        """``stream`` with settings already prepared (a LoRA variant adjusts them)."""
        segmenter = self.segmenter()
        joined = False  # the last segment was cut mid-clause: the next one continues it
        async for chunk in text:
            for segment in segmenter.push(chunk):
                # aclosing: a stream stopped mid-segment ends the segment's generation now
                async with aclosing(
                    self.synthesize_segment(segment, settings, cancel=cancel, joined=joined)
                ) as audio_chunks:
                    async for audio in audio_chunks:
                        yield audio
                joined = ends_mid_clause(segment)
        for segment in segmenter.flush():
            async with aclosing(
                self.synthesize_segment(segment, settings, cancel=cancel, joined=joined)
            ) as audio_chunks:
                async for audio in audio_chunks:
                    yield audio
            joined = ends_mid_clause(segment)
