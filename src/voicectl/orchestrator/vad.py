"""Voice activity: webrtcvad (and Silero) decisions per 20 ms frame, smoothed by hysteresis.

webrtcvad alone flips on single frames (clicks, breaths); the session needs stable
SPEECH_START / SPEECH_END edges, with onset/offset thresholds the session sets per
conversation phase (fast onset while the agent speaks: the two-stage barge-in makes a
false onset cheap, since it only pauses). ``Hysteresis`` is pure so the FSM tests can
drive it; ``VoiceActivityDetector`` adds webrtcvad, and Silero where a phase asks for it
(``speech_prob``: the user's own turn, where a pause must be heard as a pause even in a
noisy recording); ``InputResampler`` turns client audio at any supported rate into the
16 kHz frames both VAD and ASR consume.
"""

from __future__ import annotations

import enum
import math

import numpy as np
import soxr
import webrtcvad  # type: ignore[import-untyped,unused-ignore]

from voicectl.audio.frames import SUPPORTED_SAMPLE_RATES, Int16Audio, bytes_to_pcm16, frame_bytes
from voicectl.orchestrator.silero import SileroStream

VAD_SAMPLE_RATE = 16000
VAD_FRAME_BYTES = frame_bytes(VAD_SAMPLE_RATE)  # 640: 320 samples of PCM16
# Silero's usual hysteresis: speech starts at speech_prob, goes on down to this much less.
SPEECH_PROB_HYSTERESIS = 0.15


class VadEvent(enum.Enum):
    SPEECH_START = "speech_start"
    SPEECH_END = "speech_end"


def _check_frames(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1 (frames of 20 ms), got {value!r}")


class Hysteresis:
    """Edges from per-frame speech decisions: START after ``start_frames`` consecutive
    speech frames, END after ``stop_frames`` consecutive non-speech frames in speech.

    A threshold change applies from the next ``update``; the run already counted still
    counts (a 3-frame run with a new start threshold of 2 starts on the next speech frame).
    """

    def __init__(self, *, start_frames: int, stop_frames: int) -> None:
        self.set_thresholds(start_frames=start_frames, stop_frames=stop_frames)
        self._in_speech = False
        self._run = 0  # consecutive frames that argue for leaving the current state
        self._segment_frames = 0
        self._segment_speech_frames = 0

    def set_thresholds(self, *, start_frames: int, stop_frames: int) -> None:
        _check_frames("start_frames", start_frames)
        _check_frames("stop_frames", stop_frames)
        self._start_frames = start_frames
        self._stop_frames = stop_frames

    @property
    def start_frames(self) -> int:
        return self._start_frames

    @property
    def stop_frames(self) -> int:
        return self._stop_frames

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def segment_frames(self) -> int:
        """Frames since the onset of the current speech segment (the START run included);
        0 outside speech. The barge-in confirm window compares against this."""
        return self._segment_frames

    @property
    def speech_frames_in_segment(self) -> int:
        """Voiced frames in the current segment (the START run included); 0 outside speech."""
        return self._segment_speech_frames

    def update(self, is_speech: bool) -> VadEvent | None:
        if not self._in_speech:
            self._run = self._run + 1 if is_speech else 0
            if self._run < self._start_frames:
                return None
            self._in_speech = True
            self._segment_frames = self._segment_speech_frames = self._run
            self._run = 0
            return VadEvent.SPEECH_START
        self._segment_frames += 1
        self._segment_speech_frames += int(is_speech)
        self._run = 0 if is_speech else self._run + 1
        if self._run < self._stop_frames:
            return None
        self.reset()
        return VadEvent.SPEECH_END

    def reset(self) -> None:
        """Back to silence without emitting an event (e.g. after a session resets)."""
        self._in_speech = False
        self._run = 0
        self._segment_frames = 0
        self._segment_speech_frames = 0


class VoiceActivityDetector:
    """webrtcvad on exactly one 20 ms PCM16 16 kHz frame per ``process`` call.

    webrtcvad keeps answering "speech" for ~2-4 frames after any sound (its internal
    hangover, longer at low aggressiveness), so a 60 ms click reads as ~140 ms of speech.
    Frames quieter than ``min_rms_dbfs`` count as non-speech, which removes that tail in
    quiet rooms and lets ``start_frames`` reject short bursts; ``None`` disables the gate.

    With ``speech_prob`` set, Silero decides too: an onset needs webrtcvad and Silero's
    probability >= ``speech_prob``; once in speech, a frame is speech while Silero stays
    above ``speech_prob`` - 0.15 (webrtcvad no longer counts: it hears noise as speech).
    Silero sees every frame either way, so its state is warm when a phase needs it.
    """

    def __init__(
        self,
        *,
        aggressiveness: int = 2,
        start_frames: int = 3,
        stop_frames: int = 15,
        min_rms_dbfs: float | None = -60.0,
        speech_prob: float | None = None,
        silero: SileroStream | None = None,
    ) -> None:
        self._vad = webrtcvad.Vad()
        self.set_aggressiveness(aggressiveness)
        self._hysteresis = Hysteresis(start_frames=start_frames, stop_frames=stop_frames)
        self.min_rms_dbfs = min_rms_dbfs
        self.speech_prob = _check_prob(speech_prob)
        self._silero = silero
        self.last_is_speech = False

    def set_aggressiveness(self, aggressiveness: int) -> None:
        if isinstance(aggressiveness, bool) or aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"aggressiveness must be 0, 1, 2 or 3, got {aggressiveness!r}")
        self._vad.set_mode(aggressiveness)
        self.aggressiveness = aggressiveness

    def is_speech(self, frame: bytes) -> bool:
        """The per-frame decision (webrtcvad + level gate), before hysteresis."""
        if len(frame) != VAD_FRAME_BYTES:
            raise ValueError(
                f"VAD frame must be {VAD_FRAME_BYTES} bytes (20 ms of PCM16 mono at "
                f"{VAD_SAMPLE_RATE} Hz), got {len(frame)}"
            )
        # Always run both models so their internal state sees every frame.
        voiced = bool(self._vad.is_speech(frame, VAD_SAMPLE_RATE))
        samples = bytes_to_pcm16(frame)  # once per frame, for Silero and the level gate
        probability = self._silero.push(samples) if self._silero else None
        loud = self.min_rms_dbfs is None or rms_dbfs(samples) >= self.min_rms_dbfs
        if self.speech_prob is None or probability is None:
            return voiced and loud
        if self.in_speech:
            return loud and probability >= self.speech_prob - SPEECH_PROB_HYSTERESIS
        return voiced and loud and probability >= self.speech_prob

    def process(self, frame: bytes) -> VadEvent | None:
        self.last_is_speech = self.is_speech(frame)
        return self._hysteresis.update(self.last_is_speech)

    def set_thresholds(
        self,
        *,
        start_frames: int,
        stop_frames: int,
        min_rms_dbfs: float | None,
        speech_prob: float | None = None,
    ) -> None:
        """A conversation phase's thresholds; all of them change together."""
        self._hysteresis.set_thresholds(start_frames=start_frames, stop_frames=stop_frames)
        self.min_rms_dbfs = min_rms_dbfs
        self.speech_prob = _check_prob(speech_prob)

    @property
    def in_speech(self) -> bool:
        return self._hysteresis.in_speech

    @property
    def segment_frames(self) -> int:
        return self._hysteresis.segment_frames

    @property
    def speech_frames_in_segment(self) -> int:
        return self._hysteresis.speech_frames_in_segment

    def reset(self) -> None:
        self._hysteresis.reset()
        self.last_is_speech = False


def _check_prob(value: float | None) -> float | None:
    if value is not None and not SPEECH_PROB_HYSTERESIS <= value <= 1.0:
        raise ValueError(
            f"speech_prob must be {SPEECH_PROB_HYSTERESIS}..1 (a Silero probability) or "
            f"null (webrtcvad alone), got {value!r}"
        )
    return value


def rms_dbfs(frame: bytes | Int16Audio) -> float:
    """RMS level of PCM16 audio in dB relative to full scale (-inf for digital silence)."""
    pcm = bytes_to_pcm16(frame) if isinstance(frame, bytes) else frame
    samples = pcm.astype(np.float64)
    power = float(np.mean(samples**2)) if samples.size else 0.0
    return 10 * math.log10(power / 32768.0**2) if power > 0 else -math.inf


class InputResampler:
    """Client PCM16 at ``input_rate`` in (any even length), whole 16 kHz 20 ms frames out.

    soxr state and partial frames carry across calls, so chunk boundaries are inaudible.
    ``quality`` defaults to soxr "LQ": VAD and ASR do not need HQ, and LQ holds back less
    audio at 24/48 kHz (about 6 ms vs 21 ms), which is barge-in latency.
    """

    def __init__(self, input_rate: int, *, quality: str = "LQ") -> None:
        if input_rate not in SUPPORTED_SAMPLE_RATES:
            rates = ", ".join(str(rate) for rate in SUPPORTED_SAMPLE_RATES)
            raise ValueError(f"unsupported input sample rate {input_rate} Hz; use one of {rates}")
        self.input_rate = input_rate
        self._stream = (
            None
            if input_rate == VAD_SAMPLE_RATE
            else soxr.ResampleStream(input_rate, VAD_SAMPLE_RATE, 1, dtype="int16", quality=quality)
        )
        self._pending = bytearray()  # resampled 16 kHz bytes short of a whole frame
        self._odd_byte = b""  # half a sample, when a chunk splits one

    @property
    def input_frame_bytes(self) -> int:
        """Bytes of one 20 ms frame at the input rate (what well-behaved clients send)."""
        return frame_bytes(self.input_rate)

    def push(self, pcm: bytes) -> list[bytes]:
        data = self._odd_byte + pcm
        cut = len(data) - len(data) % 2
        self._odd_byte = data[cut:]
        return self._frames(self._resample(data[:cut], last=False))

    def flush(self, *, pad: bool = True) -> list[bytes]:
        """End of input: drain soxr; the last partial frame is zero-padded (or dropped)."""
        frames = self._frames(self._resample(b"", last=True))
        self._odd_byte = b""
        if self._pending and pad:
            frames.append(bytes(self._pending) + bytes(VAD_FRAME_BYTES - len(self._pending)))
        self._pending.clear()
        return frames

    def _resample(self, data: bytes, *, last: bool) -> bytes:
        if self._stream is None:
            return data
        out = self._stream.resample_chunk(bytes_to_pcm16(data), last=last)
        return np.asarray(out, dtype="<i2").tobytes()

    def _frames(self, data: bytes) -> list[bytes]:
        self._pending += data
        whole = len(self._pending) - len(self._pending) % VAD_FRAME_BYTES
        chunk = bytes(self._pending[:whole])
        del self._pending[:whole]
        return [chunk[i : i + VAD_FRAME_BYTES] for i in range(0, whole, VAD_FRAME_BYTES)]
