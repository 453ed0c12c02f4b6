"""The loop guards on audio that made the cropped greedy decode loop.

``tests/data/asr/jfk-first-9.2s.flac`` is the first 9.2 s of ../shared/audio/jfk.flac
(public domain), at 16 kHz: it ends mid-word ("ask what you c-"), as a partial does,
and the fast path decodes it as "... ask what you ask not what your country ..." until
its token budget runs out.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from voicectl.asr.guards import is_loop
from voicectl.asr.wer import word_error_rate
from voicectl.asr.whisper import WhisperASR, token_budget
from voicectl.orchestrator.asr import AsrEngine

pytestmark = pytest.mark.slow

CAPTURED = Path(__file__).resolve().parents[1] / "data" / "asr" / "jfk-first-9.2s.flac"
SAID = "And so my fellow Americans ask not what your country can do for you ask what you"


def _samples() -> np.ndarray:
    with av.open(str(CAPTURED)) as container:
        chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)]
    return np.concatenate(chunks).astype(np.float32) / 32768


@pytest.fixture(scope="module")
def asr(asr_engine: AsrEngine) -> WhisperASR:
    return asr_engine.asr


def test_the_fast_path_loops_on_this_audio_and_a_guard_says_so(asr: WhisperASR) -> None:
    samples = _samples()
    text, guard = asr._transcribe_short(samples)
    assert is_loop(text), f"the captured audio no longer loops on the fast path: {text!r}"
    assert guard == "token_budget"  # cut short at ~8 tokens a second, not Whisper's 224
    assert len(text.split()) <= token_budget(samples.size / 16000) + 1


def test_a_final_falls_back_to_the_stock_decode(asr: WhisperASR) -> None:
    result = asr.transcribe_detailed(_samples(), 16000)
    assert result.path == "fallback"
    assert result.guard is not None
    assert not is_loop(result.text)
    assert word_error_rate(SAID, result.text) <= 0.1, result.text


def test_a_partial_is_dropped_rather_than_shown_looping(asr: WhisperASR) -> None:
    result = asr.transcribe_detailed(_samples(), 16000, fallback=False)
    assert result.path == "dropped"
    assert result.text == ""


def test_the_whole_recording_takes_the_fast_path_with_the_stock_words(asr: WhisperASR) -> None:
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "audio" / "jfk.flac"
    with av.open(str(shared)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
    samples = np.concatenate(chunks)
    fast = asr.transcribe_detailed(samples, 16000)
    stock = asr._transcribe_stock(samples)
    assert fast.path == "fast"
    assert word_error_rate(stock, fast.text) <= 0.05, (fast.text, stock)
