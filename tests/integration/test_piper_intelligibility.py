"""Round trip: a real worker speaks with Piper, faster-whisper tiny.en hears it (target WER < 10 %).

Run with ``pytest -s`` to see what whisper heard for each sentence.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from voicectl.asr import WhisperASR, normalize_words, word_error_rate
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.worker.catalog import PIPER_JOE
from voicectl.worker.config import WorkerConfig
from voicectl.worker.server import Worker

pytestmark = pytest.mark.slow

ASR_RATE = 16000
MAX_WER = 0.10
# Everyday sentences without numbers or names, which whisper may spell differently.
SENTENCES = (
    "Could you please close the window before you leave?",
    "The weather was cold and windy this morning.",
    "I left my keys on the kitchen table.",
    "We are going to the market to buy fresh bread.",
    "She reads a book every night before going to sleep.",
    "Turn left at the corner and walk past the library.",
    "Thank you for helping me carry the heavy boxes.",
)


@pytest.fixture(scope="module")
async def tts() -> AsyncIterator[TTSClient]:
    worker = Worker(WorkerConfig(port=0, default_model=PIPER_JOE.model_id, ttl_seconds=None))
    await worker.start()
    try:
        async with TTSClient(worker.address) as client:
            await client.wait_ready(timeout=30)
            yield client
    finally:
        await worker.stop(grace=0)


@pytest.fixture(scope="module")
def asr() -> WhisperASR:
    return WhisperASR.load()


async def hear(tts: TTSClient, asr: WhisperASR, text: str) -> str:
    """Speak ``text`` through the worker at 16 kHz and transcribe it."""
    pcm, rate, _ = await collect_pcm(tts.synthesize(text, SynthesisRequest(sample_rate=ASR_RATE)))
    assert rate == ASR_RATE
    return await asyncio.to_thread(asr.transcribe, np.frombuffer(pcm, dtype="<i2"), ASR_RATE)


async def test_whisper_understands_piper(tts: TTSClient, asr: WhisperASR) -> None:
    errors = 0.0
    words = 0
    print()
    for sentence in SENTENCES:
        heard = await hear(tts, asr, sentence)
        wer = word_error_rate(sentence, heard)
        errors += wer * len(normalize_words(sentence))
        words += len(normalize_words(sentence))
        print(f"WER {wer:.2f}  said: {sentence!r}\n           heard: {heard!r}")
    total = errors / words
    print(f"aggregate WER over {len(SENTENCES)} sentences ({words} words): {total:.3f}")
    assert total < MAX_WER


async def test_a_wrong_reference_fails_the_check(tts: TTSClient, asr: WhisperASR) -> None:
    heard = await hear(tts, asr, SENTENCES[0])
    wrong = "The orange cat slept all afternoon in the sun."
    assert word_error_rate(wrong, heard) > 0.7
