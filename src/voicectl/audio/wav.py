"""WAV file input and output for PCM16 mono audio."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from voicectl.audio.frames import Int16Audio


def write_wav(path: Path, pcm: bytes, sample_rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)


def read_wav(path: Path) -> tuple[Int16Audio, int]:
    """Read a PCM16 WAV; multi-channel files are mixed down to mono."""
    with wave.open(str(path), "rb") as src:
        if src.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported")
        channels = src.getnchannels()
        rate = src.getframerate()
        data = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return data.astype(np.int16), rate
