"""Turn adapter chunks at a model's native rate into exact 20 ms PCM16 frames.

The framer is the shared layer every adapter goes through: loudness per chunk,
streaming resampling with soxr (state carried across chunks, so chunk boundaries
leave no clicks), and slicing into frames with the remainder carried over.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

from voicectl.audio.frames import (
    FloatAudio,
    Int16Audio,
    float_to_pcm16,
    samples_per_frame,
    to_float32,
)
from voicectl.audio.loudness import normalize, soft_limit, stream_gain


class Framer:
    """Stateful chunk-to-frame converter for one stream."""

    def __init__(
        self,
        *,
        input_rate: int,
        output_rate: int,
        target_dbfs: float | None,
        source_dbfs: float | None = None,
    ) -> None:
        """``source_dbfs``: the adapter's steady speech level, if it has one (one gain for
        the stream, peaks soft-limited); else each chunk is leveled on its own."""
        self.input_rate = input_rate
        self.output_rate = output_rate
        self.target_dbfs = target_dbfs
        self._gain = (
            None
            if target_dbfs is None or source_dbfs is None
            else stream_gain(source_dbfs, target_dbfs)
        )
        self.frame_samples = samples_per_frame(output_rate)
        self._pending: Int16Audio = np.zeros(0, dtype=np.int16)
        self._resampler = (
            None
            if input_rate == output_rate
            else soxr.ResampleStream(input_rate, output_rate, 1, dtype="float32", quality="HQ")
        )

    def push(self, chunk: npt.NDArray[np.generic]) -> list[Int16Audio]:
        """Add one chunk of native-rate audio; return the whole frames now available."""
        audio = to_float32(chunk)
        if audio.size == 0:
            return []
        if self._gain is not None:
            audio = soft_limit(audio * np.float32(self._gain))
        elif self.target_dbfs is not None:
            audio = normalize(audio, self.target_dbfs)
        return self._append(self._resample(audio, last=False))

    def flush(self) -> list[Int16Audio]:
        """End of stream: drain the resampler and pad the tail to a whole frame with silence."""
        frames = self._append(self._resample(np.zeros(0, dtype=np.float32), last=True))
        if self._pending.size:
            tail = np.zeros(self.frame_samples, dtype=np.int16)
            tail[: self._pending.size] = self._pending
            frames.append(tail)
            self._pending = np.zeros(0, dtype=np.int16)
        return frames

    def _resample(self, audio: FloatAudio, *, last: bool) -> FloatAudio:
        if self._resampler is None:
            return audio
        out: FloatAudio = self._resampler.resample_chunk(audio, last=last)
        return out.astype(np.float32, copy=False)

    def _append(self, audio: FloatAudio) -> list[Int16Audio]:
        if audio.size:
            self._pending = np.concatenate([self._pending, float_to_pcm16(audio)])
        count = self._pending.size // self.frame_samples
        frames = [
            self._pending[i * self.frame_samples : (i + 1) * self.frame_samples].copy()
            for i in range(count)
        ]
        self._pending = self._pending[count * self.frame_samples :]
        return frames
