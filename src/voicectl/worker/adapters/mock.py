"""The mock adapter: a deterministic tone "voice" for demos, CI and load tests.

Each word becomes a short tone whose pitch comes from the word's letters, so the
duration follows the text length (~65 ms per character, like speech) and the
same text always gives the same samples. ``rtf`` sets how long generation takes
relative to the audio it produces (0.1 = ten times faster than real time), so
the worker's look-ahead, PAUSE and STOP behave as with a real model.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator, AsyncIterator
from functools import partial
from typing import Self

import numpy as np

from voicectl.audio.frames import FloatAudio
from voicectl.worker.adapters.base import (
    CancelToken,
    Capabilities,
    ModelSpec,
    SynthesisCancelled,
    SynthesisOptions,
    TTSAdapter,
    run_blocking,
)

MOCK_SAMPLE_RATE = 24000
SECONDS_PER_CHAR = 0.065
GAP_SECONDS = 0.06
BLOCK_SECONDS = 0.1
FADE_SECONDS = 0.005
VOICE_BASE_HZ = {"default": 220.0, "low": 110.0, "high": 440.0}


class MockAdapter(TTSAdapter):
    """Sine-tone speech stand-in with a configurable real-time factor."""

    name = "mock"
    capabilities = Capabilities(
        streaming_text_input=True, native_text_streaming=True, devices=("cpu",)
    )

    def __init__(self, *, spec: ModelSpec, rtf: float) -> None:
        super().__init__(spec=spec, native_sample_rate=MOCK_SAMPLE_RATE)
        self.rtf = rtf

    @classmethod
    def load(cls, spec: ModelSpec) -> Self:
        rtf = spec.params.get("rtf", 0.02)
        if not isinstance(rtf, int | float) or isinstance(rtf, bool) or not 0 <= rtf <= 10:
            raise ValueError(f"mock adapter param 'rtf' must be a number in 0..10, got {rtf!r}")
        return cls(spec=spec, rtf=float(rtf))

    async def stream(
        self,
        text: AsyncIterator[str],
        *,
        voice: str,
        options: SynthesisOptions,
        cancel: CancelToken,
    ) -> AsyncGenerator[FloatAudio, None]:
        base_hz = VOICE_BASE_HZ.get(voice, VOICE_BASE_HZ["default"])
        buffered = ""
        async for chunk in text:
            buffered += chunk
            *words, buffered = buffered.split(" ")
            for word in words:
                render = partial(self._render_word, word, base_hz, options.speed, cancel)
                for block in await run_blocking(render):
                    yield block
        if buffered:
            render = partial(self._render_word, buffered, base_hz, options.speed, cancel)
            for block in await run_blocking(render):
                yield block

    def _render_word(
        self, word: str, base_hz: float, speed: float, cancel: CancelToken
    ) -> list[FloatAudio]:
        """Blocking: synthesize one word plus its trailing gap, taking ``rtf`` x its duration."""
        word = word.strip()
        if not word:
            return []
        rate = self.native_sample_rate
        tone_len = int(rate * SECONDS_PER_CHAR * len(word) / speed)
        gap_len = int(rate * GAP_SECONDS / speed)
        pitch = base_hz * (1.0 + (zlib.crc32(word.lower().encode()) % 12) / 12.0)
        t = np.arange(tone_len, dtype=np.float64) / rate
        tone = 0.3 * np.sin(2.0 * np.pi * pitch * t)
        fade = min(int(rate * FADE_SECONDS), tone_len // 2)
        if fade:
            ramp = np.linspace(0.0, 1.0, fade)
            tone[:fade] *= ramp
            tone[-fade:] *= ramp[::-1]
        audio = np.concatenate([tone, np.zeros(gap_len)]).astype(np.float32)
        block = int(rate * BLOCK_SECONDS)
        blocks = [audio[i : i + block] for i in range(0, audio.size, block)]
        for piece in blocks:
            if cancel.sleep(self.rtf * piece.size / rate):
                raise SynthesisCancelled
        return blocks
