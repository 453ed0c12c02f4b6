"""The shared framing layer: exact frames, resampling, loudness without clipping."""

from __future__ import annotations

import numpy as np
import pytest

from voicectl.audio.framer import Framer
from voicectl.audio.frames import SUPPORTED_SAMPLE_RATES, float_to_pcm16, samples_per_frame
from voicectl.audio.loudness import (
    MAX_GAIN_DB,
    PEAK_CEILING,
    normalization_gain,
    normalize,
    rms_dbfs,
    soft_limit,
    stream_gain,
)


@pytest.mark.parametrize(
    ("rate", "samples"), [(16000, 320), (22050, 441), (24000, 480), (48000, 960), (8000, 160)]
)
def test_samples_per_frame(rate: int, samples: int) -> None:
    assert samples_per_frame(rate) == samples


def test_rate_that_does_not_divide_into_frames_is_rejected() -> None:
    with pytest.raises(ValueError, match="20 ms"):
        samples_per_frame(11025 + 1)


def tone(rate: int, seconds: float, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("out_rate", SUPPORTED_SAMPLE_RATES)
def test_framer_emits_exact_frames_and_keeps_duration(out_rate: int) -> None:
    framer = Framer(input_rate=22050, output_rate=out_rate, target_dbfs=None)
    frames = []
    for chunk in np.array_split(tone(22050, 1.0), 7):  # odd chunk sizes
        frames += framer.push(chunk)
    frames += framer.flush()
    assert all(f.size == samples_per_frame(out_rate) for f in frames)
    assert all(f.dtype == np.int16 for f in frames)
    duration = len(frames) * 0.02
    assert 1.0 <= duration <= 1.0 + 0.04


def test_framer_resampling_has_no_chunk_boundary_clicks() -> None:
    framer = Framer(input_rate=22050, output_rate=48000, target_dbfs=None)
    frames = []
    for chunk in np.array_split(tone(22050, 0.5), 13):
        frames += framer.push(chunk)
    frames += framer.flush()
    audio = np.concatenate(frames).astype(np.float64) / 32768
    steady = audio[2000:20000]
    # A 440 Hz sine at 48 kHz changes by at most 2*pi*440/48000*0.3 per sample.
    assert np.max(np.abs(np.diff(steady))) < 0.3 * 2 * np.pi * 440 / 48000 * 1.2


def test_loudness_reaches_target_within_1db() -> None:
    quiet = tone(24000, 0.5, amp=0.01)
    out = normalize(quiet, -20.0)
    assert abs(rms_dbfs(out) - -20.0) < 1.0


def test_loudness_never_clips() -> None:
    spiky = np.zeros(24000, dtype=np.float32)
    spiky[::1000] = 0.9  # tiny RMS, big peaks: full gain would clip
    out = normalize(spiky, -10.0)
    assert np.max(np.abs(out)) <= 0.98 + 1e-6
    assert normalization_gain(np.zeros(100, dtype=np.float32), -20.0) == 1.0


def test_float_to_pcm16_saturates() -> None:
    pcm = float_to_pcm16(np.array([1.5, -1.5, 0.0], dtype=np.float32))
    assert pcm.tolist() == [32767, -32768, 0]


def test_a_steady_source_gets_one_gain_for_the_whole_stream() -> None:
    # A quiet phrase then a loud one from a source whose level is known (-26 dBFS):
    # both get the same gain, so the level step between them is the source's own.
    framer = Framer(input_rate=22050, output_rate=22050, target_dbfs=-20.0, source_dbfs=-26.0)
    quiet, loud = tone(22050, 0.2, amp=0.05), tone(22050, 0.2, amp=0.1)
    out_quiet = np.concatenate(framer.push(quiet)).astype(np.float32) / 32768
    out_loud = np.concatenate(framer.push(loud)).astype(np.float32) / 32768
    gain_db = 20 * np.log10(10 ** (6 / 20))
    assert abs(rms_dbfs(out_quiet) - rms_dbfs(quiet[: out_quiet.size]) - gain_db) < 0.1
    assert abs(rms_dbfs(out_loud) - rms_dbfs(out_quiet) - 6.02) < 0.3
    # Per-chunk leveling (no source level) would have made them equally loud.
    plain = Framer(input_rate=22050, output_rate=22050, target_dbfs=-20.0)
    a, b = (np.concatenate(plain.push(x)).astype(np.float32) / 32768 for x in (quiet, loud))
    assert abs(rms_dbfs(a) - rms_dbfs(b)) < 0.5


def test_stream_gain_is_capped() -> None:
    assert stream_gain(-26.0, -20.0) == pytest.approx(10 ** (6 / 20))
    assert stream_gain(-90.0, -20.0) == pytest.approx(10 ** (MAX_GAIN_DB / 20))


def test_soft_limit_bends_peaks_below_the_ceiling_and_leaves_the_rest() -> None:
    audio = np.array([0.0, 0.5, -0.79, 0.85, -1.3, 3.0], dtype=np.float32)
    out = soft_limit(audio)
    np.testing.assert_array_equal(out[:3], audio[:3])
    assert np.all(np.abs(out) <= PEAK_CEILING)
    assert 0.8 < out[3] < 0.85
    assert out[4] < -0.8
    assert np.all(np.diff(soft_limit(np.linspace(0, 2, 1000, dtype=np.float32))) >= 0)
