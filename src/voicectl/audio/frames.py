"""The audio frame contract: exactly 20 ms of PCM16 mono little-endian per frame."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FRAME_MS = 20
FRAMES_PER_SECOND = 1000 // FRAME_MS
SUPPORTED_SAMPLE_RATES: tuple[int, ...] = (8000, 16000, 22050, 24000, 44100, 48000)
BYTES_PER_SAMPLE = 2

FloatAudio = npt.NDArray[np.float32]
Int16Audio = npt.NDArray[np.int16]


def samples_per_frame(sample_rate: int) -> int:
    """Samples in one 20 ms frame (320 at 16 kHz, 441 at 22.05 kHz, 960 at 48 kHz)."""
    if sample_rate % FRAMES_PER_SECOND:
        raise ValueError(f"sample_rate {sample_rate} Hz does not divide into 20 ms frames")
    return sample_rate // FRAMES_PER_SECOND


def frame_bytes(sample_rate: int) -> int:
    """Bytes in one 20 ms PCM16 mono frame."""
    return samples_per_frame(sample_rate) * BYTES_PER_SAMPLE


def is_supported_rate(sample_rate: int) -> bool:
    return sample_rate in SUPPORTED_SAMPLE_RATES


def to_float32(audio: npt.NDArray[np.generic]) -> FloatAudio:
    """Convert int16 or float audio to float32 in [-1, 1] (int16 is scaled by 1/32768)."""
    array = np.asarray(audio)
    if array.dtype == np.int16:
        return (array.astype(np.float32) / 32768.0).reshape(-1)
    return array.astype(np.float32, copy=False).reshape(-1)


def float_to_pcm16(audio: FloatAudio) -> Int16Audio:
    """Round float audio in [-1, 1] to int16, saturating instead of wrapping."""
    scaled = np.rint(audio.astype(np.float64) * 32767.0)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def pcm16_to_bytes(audio: Int16Audio) -> bytes:
    return audio.astype("<i2", copy=False).tobytes()


def bytes_to_pcm16(data: bytes) -> Int16Audio:
    if len(data) % BYTES_PER_SAMPLE:
        raise ValueError(f"PCM16 data has an odd length ({len(data)} bytes)")
    return np.frombuffer(data, dtype="<i2").astype(np.int16)
