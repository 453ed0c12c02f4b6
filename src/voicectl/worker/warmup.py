"""Warmup: a short synthesis before a model is READY, so the first request pays no
one-time costs (lazy allocations, kernel selection, caches)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from voicectl.worker.adapters.base import CancelToken, SynthesisOptions, TTSAdapter

WARMUP_TEXT = "Hello there."
WARMUP_SECONDS = 0.3


async def warmup(adapter: TTSAdapter) -> None:
    """Synthesize ~300 ms so the first real request does not pay one-time costs."""

    async def text() -> AsyncIterator[str]:
        yield WARMUP_TEXT

    cancel = CancelToken()
    produced = 0
    target = int(adapter.native_sample_rate * WARMUP_SECONDS)
    stream = adapter.stream(
        text(), voice=adapter.spec.default_voice, options=SynthesisOptions(), cancel=cancel
    )
    try:
        async for chunk in stream:
            produced += len(chunk)
            if produced >= target:
                break
    finally:
        cancel.cancel()
        await stream.aclose()
