"""Any recording as input: decode a file (WAV, FLAC, MP3, ... whatever ffmpeg reads) to PCM16 mono.

People bring recordings in whatever format their tools wrote: 44.1 kHz stereo 24-bit FLAC,
8 kHz telephone WAV, MP3. PyAV (ffmpeg, already installed for faster-whisper) decodes them
to float32; channels are averaged to mono and soxr resamples, chunk by chunk, so a long
file never holds more than its mono float32 copy at the output rate in memory.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import soxr

from voicectl.audio.frames import FloatAudio, Int16Audio, float_to_pcm16

MAX_SECONDS = 3600.0  # one hour: ~230 MB of float32 at 16 kHz while decoding


class AudioDecodeError(ValueError):
    """A file is missing, is not audio, cannot be decoded, or holds no samples."""


def decode_audio_file(
    path: Path, *, sample_rate: int, max_seconds: float = MAX_SECONDS
) -> Int16Audio:
    """The first audio stream of ``path`` as int16 mono at ``sample_rate``."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate}")
    if not path.exists():
        raise AudioDecodeError(f"{path}: no such file")
    if not path.is_file():
        raise AudioDecodeError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{path}: the file is empty (0 bytes)")
    try:
        container = av.open(str(path), mode="r")
    except av.FFmpegError as exc:
        raise AudioDecodeError(f"{path}: not an audio file ffmpeg can read ({_why(exc)})") from None
    with container:
        if not container.streams.audio:
            raise AudioDecodeError(f"{path}: has no audio stream ({container.format.name})")
        try:
            audio = _decode(container, sample_rate=sample_rate, max_seconds=max_seconds)
        except av.FFmpegError as exc:
            raise AudioDecodeError(f"{path}: cannot be decoded ({_why(exc)})") from None
        except _TooLong:
            raise AudioDecodeError(
                f"{path}: longer than the {max_seconds:g} s limit for one recording"
            ) from None
        if audio.size == 0:
            raise AudioDecodeError(
                f"{path}: no audio could be decoded (no samples, or not valid "
                f"{container.format.name} data)"
            )
    return float_to_pcm16(np.clip(audio, -1.0, 1.0))


def _why(exc: av.FFmpegError) -> str:
    return str(exc.strerror or exc)


class _TooLong(Exception):
    pass


def _decode(container: av.container.InputContainer, *, sample_rate: int,
            max_seconds: float) -> FloatAudio:  # fmt: skip
    stream = container.streams.audio[0]
    to_float = av.AudioResampler(format="fltp")  # planar float32, same layout and rate
    resampler: soxr.ResampleStream | None = None
    chunks: list[FloatAudio] = []
    samples = 0
    for frame in itertools.chain(container.decode(stream), [None]):  # None flushes
        for converted in to_float.resample(frame):
            planes = converted.to_ndarray()  # (channels, samples), float32
            mono = np.asarray(planes.mean(axis=0, dtype=np.float32), dtype=np.float32)
            if resampler is None and converted.sample_rate != sample_rate:
                resampler = soxr.ResampleStream(converted.sample_rate, sample_rate, 1,
                                                dtype="float32")  # fmt: skip
            chunk = mono if resampler is None else resampler.resample_chunk(mono)
            chunks.append(np.asarray(chunk, dtype=np.float32))
            samples += chunk.size
            if samples > max_seconds * sample_rate:
                raise _TooLong
    if resampler is not None:
        chunks.append(np.asarray(resampler.resample_chunk(np.zeros(0, np.float32), last=True),
                                 dtype=np.float32))  # fmt: skip
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks)
