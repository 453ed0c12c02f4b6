"""decode_audio_file: recordings in the formats people have, at the rate the stack wants.

Test files are written here: WAV with the standard library's `wave` (so the encoder is not
the decoder under test), FLAC, MP3 and float WAV with PyAV's bundled encoders (flac,
libmp3lame, pcm_f32le). The real 24-bit stereo FLAC is ../shared/audio/jfk.flac.
"""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from voicectl.audio.decode import AudioDecodeError, decode_audio_file

JFK = Path(__file__).resolve().parents[2] / ".." / "shared" / "audio" / "jfk.flac"
Signal = npt.NDArray[np.float64]


def tones(rate: int, seconds: float = 1.0) -> tuple[Signal, Signal]:
    """Left 440 Hz, right 1 kHz: the mono mix is their mean, so a wrong downmix shows."""
    t = np.arange(int(rate * seconds)) / rate
    return 0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 1000 * t)


def expected_mono(rate: int, seconds: float = 1.0, *, channels: int = 2) -> Signal:
    left, right = tones(rate, seconds)
    return (left + right) / 2 if channels == 2 else left


def similarity(decoded: npt.NDArray[np.int16], expected: Signal) -> float:
    """Correlation at zero lag, and the level ratio, folded into one number near 1."""
    x = decoded.astype(np.float64) / 32767
    n = min(x.size, expected.size)
    corr = float(np.corrcoef(x[:n], expected[:n])[0, 1])
    level = float(x[:n].std() / expected[:n].std())
    return min(corr, level, 1 / level)


def write_int_wav(path: Path, rate: int, width: int, channels: int = 2) -> None:
    left, right = tones(rate)
    frames = np.stack([left, right], axis=1)[:, :channels]
    if width == 1:  # 8-bit WAV is unsigned
        data = np.clip(np.rint(frames * 127 + 128), 0, 255).astype(np.uint8).tobytes()
    else:
        full = 2 ** (8 * width - 1) - 1
        ints = np.rint(frames * full).astype("<i4")
        data = ints.astype("<i2").tobytes() if width == 2 else ints.tobytes()
        if width == 3:  # keep the three low bytes of each little-endian int32
            data = np.frombuffer(data, np.uint8).reshape(-1, 4)[:, :3].tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(data)


def write_pyav(path: Path, codec: str, rate: int) -> None:
    left, right = tones(rate)
    planes = np.ascontiguousarray(np.stack([left, right]).astype(np.float32))
    frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout="stereo")
    frame.sample_rate = rate
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "stereo"
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


@pytest.mark.parametrize(
    ("name", "rate", "width", "channels"),
    [
        ("stereo-44k-16bit.wav", 44100, 2, 2),
        ("stereo-44k-24bit.wav", 44100, 3, 2),
        ("stereo-48k-32bit.wav", 48000, 4, 2),
        ("mono-8k-16bit.wav", 8000, 2, 1),
        ("mono-22k-8bit.wav", 22050, 1, 1),
    ],
)
def test_int_wav_of_any_rate_and_width(
    tmp_path: Path, name: str, rate: int, width: int, channels: int
) -> None:
    path = tmp_path / name
    write_int_wav(path, rate, width, channels)
    audio = decode_audio_file(path, sample_rate=16000)
    assert audio.dtype == np.int16
    assert audio.ndim == 1
    assert abs(audio.size - 16000) <= 1
    floor = 0.98 if width == 1 else 0.995  # 8-bit quantization noise
    assert similarity(audio, expected_mono(16000, channels=channels)) > floor


@pytest.mark.parametrize(
    ("name", "codec", "floor"),
    [
        ("tones.flac", "flac", 0.995),
        ("tones.mp3", "libmp3lame", 0.9),
        ("float.wav", "pcm_f32le", 0.995),
    ],
)
def test_compressed_and_float_files(tmp_path: Path, name: str, codec: str, floor: float) -> None:
    path = tmp_path / name
    write_pyav(path, codec, 44100)
    audio = decode_audio_file(path, sample_rate=16000)
    assert abs(audio.size - 16000) <= 16, "MP3 encoder delay and padding are trimmed"
    assert similarity(audio, expected_mono(16000)) > floor


@pytest.mark.parametrize("rate", [8000, 22050, 24000, 48000])
def test_output_rate_is_the_one_asked_for(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "tones.flac"
    write_pyav(path, "flac", 44100)
    audio = decode_audio_file(path, sample_rate=rate)
    assert abs(audio.size - rate) <= 1
    assert similarity(audio, expected_mono(rate)) > 0.995


def test_the_real_recording() -> None:
    """44.1 kHz stereo 24-bit FLAC of real speech, 11.0 s."""
    assert JFK.is_file(), f"the shared recordings belong beside the repository: {JFK}"
    audio = decode_audio_file(JFK, sample_rate=16000)
    assert abs(audio.size / 16000 - 11.0) <= 0.05
    loudest = np.abs(audio.astype(np.int32)).max()
    assert 8000 < loudest <= 32767, "speech at a normal level, not silence or clipping noise"


def test_loud_float_input_saturates_instead_of_wrapping(tmp_path: Path) -> None:
    path = tmp_path / "loud.wav"
    planes = np.full((1, 800), 1.5, dtype=np.float32)
    frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout="mono")
    frame.sample_rate = 16000
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_f32le", rate=16000)
        stream.layout = "mono"
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    audio = decode_audio_file(path, sample_rate=16000)
    assert audio.size == 800
    assert audio.min() == 32767


def random_bytes(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(3).bytes(20_000))
    return path


def write_video_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path


def write_empty_wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
    return path


def text_file(path: Path) -> Path:
    path.write_text("these are not samples")
    return path


def zero_bytes(path: Path) -> Path:
    path.write_bytes(b"")
    return path


BAD: dict[str, tuple[Callable[[Path], Path], str]] = {
    "random-wav": (lambda d: random_bytes(d / "corrupt.wav"), "not an audio file"),
    "random-flac": (lambda d: random_bytes(d / "corrupt.flac"), "no audio could be decoded"),
    "text-mp3": (lambda d: text_file(d / "notes.mp3"), "not an audio file"),
    "zero-bytes": (lambda d: zero_bytes(d / "empty.flac"), "the file is empty"),
    "no-frames": (lambda d: write_empty_wav(d / "silent.wav"), "no audio could be decoded"),
    "video-only": (lambda d: write_video_only(d / "video.mkv"), "has no audio stream"),
    "missing": (lambda d: d / "missing.wav", "no such file"),
    "folder": (lambda d: d, "not a file"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_names_the_file_and_the_problem(tmp_path: Path, case: str) -> None:
    make, words = BAD[case]
    path = make(tmp_path)
    with pytest.raises(AudioDecodeError) as caught:
        decode_audio_file(path, sample_rate=16000)
    assert str(caught.value).startswith(f"{path}: ")
    assert words in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_recording_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tones.flac"
    write_pyav(path, "flac", 44100)
    with pytest.raises(AudioDecodeError, match=r"longer than the 0\.5 s limit"):
        decode_audio_file(path, sample_rate=16000, max_seconds=0.5)
