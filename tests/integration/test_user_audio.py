"""The simulated user's Piper voice, used where espeak-ng is missing: the whole text in
one piece, and without sampling noise, so a scripted turn is the same audio every run."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from voicectl.talk import user_audio
from voicectl.talk.user_audio import piper_speech, user_speech

RATE = 16000
TEXT = "What is the weather like today?"


def test_the_piper_voice_speaks_the_whole_text_in_one_piece() -> None:
    audio = piper_speech(TEXT, sample_rate=RATE)
    assert audio.dtype == np.int16
    assert audio.ndim == 1
    assert float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) > 0.02 * 32767
    assert 0.04 * len(TEXT) < audio.size / RATE < 0.12 * len(TEXT)


def test_the_piper_voice_is_the_same_audio_every_time() -> None:
    first = piper_speech(TEXT, sample_rate=RATE)
    assert np.array_equal(first, piper_speech(TEXT, sample_rate=RATE))
    assert not np.array_equal(first, piper_speech("What is the time?", sample_rate=RATE))


async def test_without_espeak_ng_the_user_speaks_with_piper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(user_audio.shutil, "which", lambda name: None)
    assert shutil.which("espeak-ng") is None
    audio = await user_speech(TEXT, 24000)
    assert np.array_equal(audio, piper_speech(TEXT, sample_rate=24000))
