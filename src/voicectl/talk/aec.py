"""Acoustic echo cancellation for `voicectl talk`: WebRTC audio processing from livekit.rtc.

The speaker's signal (far end) is fed to the canceller as it is played; the microphone
(near end) comes out with that signal's echo removed, so the agent's own voice on
laptop speakers does not look like the user barging in. livekit's module works on
10 ms frames; our frames are 20 ms, so each is processed as two halves.
"""

from __future__ import annotations

from typing import Any

from voicectl.audio.frames import frame_bytes

AUDIO_EXTRA_HINT = (
    "install the audio extra: uv sync --extra audio (with pip: pip install '.[audio]')"
)


class MissingAudioExtra(ImportError):
    """sounddevice or livekit (the `audio` extra) is not installed."""


def load_rtc() -> Any:
    """``livekit.rtc``, or a :class:`MissingAudioExtra` that says how to get it."""
    try:
        from livekit import rtc
    except ImportError as exc:
        raise MissingAudioExtra(
            f"echo cancellation needs livekit ({exc}); {AUDIO_EXTRA_HINT}"
        ) from None
    return rtc


class EchoCanceller:
    """``process_far_end(played)`` for every speaker frame, ``process_near_end(mic)`` per mic frame.

    Both take 20 ms PCM16 mono frames at ``sample_rate`` (a multiple of 100 Hz: 16, 24, 48 kHz).
    """

    def __init__(
        self, sample_rate: int = 16000, *, noise_suppression: bool = False,
        delay_ms: int | None = None,
    ) -> None:  # fmt: skip
        if sample_rate % 100:
            raise ValueError(
                f"echo cancellation works on 10 ms frames; {sample_rate} Hz does not divide "
                "into them (use 16000, 24000, 44100 or 48000)"
            )
        self._rtc = load_rtc()
        self._apm = self._rtc.AudioProcessingModule(
            echo_cancellation=True,
            noise_suppression=noise_suppression,
            high_pass_filter=True,
            auto_gain_control=False,
        )
        self.sample_rate = sample_rate
        self.frame_bytes = frame_bytes(sample_rate)
        self._half_samples = sample_rate // 100
        self._delay_ms = delay_ms
        self.far_frames = 0
        self.near_frames = 0

    def set_delay_ms(self, ms: float) -> None:
        """Hint of the delay from a far-end frame being fed to its echo reaching the mic."""
        self._delay_ms = max(0, round(ms))

    def process_far_end(self, frame: bytes) -> None:
        """What the speaker plays (call it as the frame is handed to the speaker)."""
        for half in self._halves(frame):
            self._apm.process_reverse_stream(self._audio_frame(half))
        self.far_frames += 1

    def process_near_end(self, frame: bytes) -> bytes:
        """The microphone frame with the speaker's echo removed."""
        cleaned = bytearray()
        for half in self._halves(frame):
            if self._delay_ms is not None:
                self._apm.set_stream_delay_ms(self._delay_ms)
            audio = self._audio_frame(half)
            self._apm.process_stream(audio)  # in place
            cleaned += audio.data.cast("B")
        self.near_frames += 1
        return bytes(cleaned)

    def _halves(self, frame: bytes) -> tuple[bytearray, bytearray]:
        if len(frame) != self.frame_bytes:
            raise ValueError(
                f"expected a 20 ms frame of {self.frame_bytes} bytes at {self.sample_rate} Hz, "
                f"got {len(frame)}"
            )
        middle = self.frame_bytes // 2
        return bytearray(frame[:middle]), bytearray(frame[middle:])

    def _audio_frame(self, data: bytearray) -> Any:
        return self._rtc.AudioFrame(
            data, self.sample_rate, num_channels=1, samples_per_channel=self._half_samples
        )
