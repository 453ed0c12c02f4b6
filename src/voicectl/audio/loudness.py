"""Loudness normalization to a target RMS, never clipping."""

from __future__ import annotations

import math

import numpy as np

from voicectl.audio.frames import FloatAudio

DEFAULT_TARGET_DBFS = -20.0
PEAK_CEILING = 0.98
LIMIT_KNEE = 0.8  # soft_limit leaves everything below this alone
# Quieter than this is treated as silence and left alone (no noise pumping).
SILENCE_RMS = 1e-4
MAX_GAIN_DB = 30.0


def dbfs_to_linear(dbfs: float) -> float:
    return float(10.0 ** (dbfs / 20.0))


def rms(audio: FloatAudio) -> float:
    if audio.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(audio.astype(np.float64)))))


def rms_dbfs(audio: FloatAudio) -> float:
    value = rms(audio)
    return -math.inf if value <= 0 else 20.0 * math.log10(value)


def normalization_gain(audio: FloatAudio, target_dbfs: float) -> float:
    """Gain that brings ``audio`` to ``target_dbfs`` RMS, capped so peaks stay below 0 dBFS."""
    level = rms(audio)
    if level < SILENCE_RMS:
        return 1.0
    gain = min(dbfs_to_linear(target_dbfs) / level, dbfs_to_linear(MAX_GAIN_DB))
    peak = float(np.max(np.abs(audio)))
    if peak * gain > PEAK_CEILING:
        gain = PEAK_CEILING / peak
    return gain


def stream_gain(source_dbfs: float, target_dbfs: float) -> float:
    """One gain for a whole stream from a source of steady level (at most MAX_GAIN_DB)."""
    return dbfs_to_linear(min(target_dbfs - source_dbfs, MAX_GAIN_DB))


def soft_limit(audio: FloatAudio, *, knee: float = LIMIT_KNEE) -> FloatAudio:
    """Samples above ``knee`` bend smoothly towards PEAK_CEILING instead of clipping. A
    per-sample curve: no gain steps, and nothing below the knee changes at all."""
    over = np.abs(audio) > knee
    if not over.any():
        return audio.astype(np.float32, copy=False)
    out = audio.astype(np.float32, copy=True)
    room = PEAK_CEILING - knee
    excess = np.abs(out[over]) - knee
    out[over] = np.sign(out[over]) * (knee + room * np.tanh(excess / room))
    return out


def normalize(audio: FloatAudio, target_dbfs: float) -> FloatAudio:
    """Scale one adapter chunk (a phrase or sentence) to the target loudness."""
    gain = normalization_gain(audio, target_dbfs)
    return (audio * np.float32(gain)).astype(np.float32)
