"""Audio devices for `voicectl talk`: a full-duplex microphone + speaker, real or virtual.

``SoundDeviceDuplex`` opens one PortAudio stream (``sounddevice.RawStream``) whose callback
runs on PortAudio's thread every 20 ms: it fills the speaker from ``next_speaker_frame``
(which must be thread-safe and never block) and hands the microphone frame to the asyncio
loop with ``call_soon_threadsafe``. ``VirtualDuplex`` drives the very same callback from a
thread on absolute 20 ms deadlines, with the microphone read from an array and the speaker
recorded; it can add acoustic echo (a delayed, attenuated copy of what was played).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from voicectl.audio.frames import Int16Audio, frame_bytes, samples_per_frame
from voicectl.talk.aec import AUDIO_EXTRA_HINT, MissingAudioExtra

MicSink = Callable[[bytes], None]
SpeakerSource = Callable[[], bytes]
DeviceName = int | str | None


class DeviceError(RuntimeError):
    """An audio device cannot be opened."""


class DeviceNotFound(DeviceError):
    """The device asked for by name or index does not exist."""


class NoAudioDevice(DeviceError):
    """PortAudio sees no input (or no output) device at all."""


class DuplexDevice(Protocol):
    """A microphone and a speaker driven by one clock, 20 ms PCM16 mono frames both ways."""

    @property
    def sample_rate(self) -> int: ...

    @property
    def frame_bytes(self) -> int: ...

    @property
    def latency_ms(self) -> float:
        """Speaker-to-microphone delay estimate, a hint for the echo canceller."""
        ...

    mic_filter: Callable[[bytes], bytes] | None
    """Runs on the audio thread on each microphone frame, right after the speaker frame of
    the same callback was taken: where echo cancellation belongs (it needs both in step)."""

    def start(self, on_mic_frame: MicSink, next_speaker_frame: SpeakerSource) -> None:
        """Begin; ``on_mic_frame`` runs on the event loop, ``next_speaker_frame`` on the
        audio thread. Call from inside the running event loop."""
        ...

    def stop(self) -> None: ...


def load_sounddevice() -> Any:
    """The ``sounddevice`` module, or an error that says what to install."""
    try:
        import sounddevice
    except ImportError as exc:
        raise MissingAudioExtra(f"the microphone needs sounddevice ({exc}); "
                                f"{AUDIO_EXTRA_HINT}") from None  # fmt: skip
    except OSError as exc:  # sounddevice is there but the PortAudio library is not
        raise MissingAudioExtra(
            f"{exc}: install PortAudio (apt-get install libportaudio2, brew install portaudio)"
        ) from None
    return sounddevice


@dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    inputs: int
    outputs: int
    default_sample_rate: float
    default_input: bool
    default_output: bool


def list_devices() -> list[AudioDevice]:
    """Every device PortAudio sees (an empty list on a machine without audio hardware)."""
    sd = load_sounddevice()
    default_in, default_out = (int(i) for i in sd.default.device)
    devices = []
    for info in sd.query_devices():
        index = int(info["index"])
        devices.append(AudioDevice(
            index=index, name=str(info["name"]),
            inputs=int(info["max_input_channels"]), outputs=int(info["max_output_channels"]),
            default_sample_rate=float(info["default_samplerate"]),
            default_input=index == default_in, default_output=index == default_out,
        ))  # fmt: skip
    return devices


def check_devices(input_device: DeviceName = None, output_device: DeviceName = None) -> None:
    """Raise :class:`NoAudioDevice` (none at all) or :class:`DeviceNotFound` (not that one)
    unless a microphone and a speaker can be opened."""
    sd = load_sounddevice()
    devices = list_devices()
    for kind, wanted, count in (
        ("input", input_device, sum(d.inputs > 0 for d in devices)),
        ("output", output_device, sum(d.outputs > 0 for d in devices)),
    ):
        if not count:
            raise NoAudioDevice(f"no audio {kind} device found (PortAudio sees "
                                f"{len(devices)} device(s))")  # fmt: skip
        try:
            sd.query_devices(wanted, kind)
        except (ValueError, sd.PortAudioError) as exc:
            raise DeviceNotFound(f"{kind} device {wanted!r}: {exc}") from None


class _CallbackDuplex:
    """The PortAudio callback contract, shared by the real and the virtual device."""

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._frame_bytes = frame_bytes(sample_rate)
        self._silence = bytes(self._frame_bytes)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_mic: MicSink = lambda _frame: None
        self._next_speaker: SpeakerSource = lambda: self._silence
        self.mic_filter: Callable[[bytes], bytes] | None = None
        self.status_errors = 0  # PortAudio over/underflow reports

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def frame_bytes(self) -> int:
        return self._frame_bytes

    def _bind(self, on_mic_frame: MicSink, next_speaker_frame: SpeakerSource) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_mic = on_mic_frame
        self._next_speaker = next_speaker_frame

    def _callback(self, indata: Any, outdata: Any, frames: int, _time: Any, status: Any) -> None:
        """Runs on the audio thread: fill the speaker, pass the microphone to the loop."""
        if status:
            self.status_errors += 1
        played = self._next_speaker()
        if len(played) != len(outdata):
            played = bytes(len(outdata))
        outdata[:] = played
        mic = bytes(indata)
        loop = self._loop
        if self.mic_filter is not None and len(mic) == self._frame_bytes:
            mic = self.mic_filter(mic)
        if loop is not None and len(mic) == self._frame_bytes:
            with contextlib.suppress(RuntimeError):  # the loop closed: shutting down
                loop.call_soon_threadsafe(self._on_mic, mic)


class SoundDeviceDuplex(_CallbackDuplex):
    """Microphone and speaker through one ``sounddevice.RawStream`` (the `audio` extra)."""

    def __init__(
        self, sample_rate: int = 16000, *, input_device: DeviceName = None,
        output_device: DeviceName = None, latency: str | float = "low",
    ) -> None:  # fmt: skip
        super().__init__(sample_rate)
        self._sd = load_sounddevice()
        self._device = (input_device, output_device)
        self._latency = latency
        self._stream: Any = None

    @property
    def latency_ms(self) -> float:
        if self._stream is None:
            return 0.0
        input_s, output_s = self._stream.latency
        return float(input_s + output_s) * 1000.0

    def start(self, on_mic_frame: MicSink, next_speaker_frame: SpeakerSource) -> None:
        self._bind(on_mic_frame, next_speaker_frame)
        try:
            self._stream = self._sd.RawStream(
                samplerate=self._rate,
                blocksize=samples_per_frame(self._rate),
                device=self._device,
                channels=1,
                dtype="int16",
                latency=self._latency,
                callback=self._callback,
            )
            self._stream.start()
        except (ValueError, self._sd.PortAudioError) as exc:
            self.stop()
            raise DeviceError(
                f"cannot open the audio device at {self._rate} Hz: {exc} "
                "(see `voicectl talk --list-devices`; some devices need --rate 48000)"
            ) from None

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(self._sd.PortAudioError):
                stream.stop()
            stream.close(ignore_errors=True)


class VirtualDuplex(_CallbackDuplex):
    """A stand-in for :class:`SoundDeviceDuplex` with no hardware: same callback, same timing.

    The microphone is ``mic`` (then silence), plus anything given to :meth:`inject`, plus
    ``echo_gain`` x what the speaker played ``echo_delay_ms`` earlier. ``speaker`` and
    ``microphone`` record both sides.
    """

    def __init__(
        self, sample_rate: int = 16000, *, mic: Int16Audio | None = None,
        echo_gain: float = 0.0, echo_delay_ms: float = 40.0,
    ) -> None:  # fmt: skip
        super().__init__(sample_rate)
        self._n = samples_per_frame(sample_rate)
        self._echo_delay = round(echo_delay_ms * sample_rate / 1000)
        if echo_gain and self._echo_delay < self._n:
            raise ValueError("echo_delay_ms must be at least one frame (20 ms): the echo of "
                             "a frame cannot reach the microphone before it is played")  # fmt: skip
        self.echo_gain = echo_gain
        self.echo_delay_ms = echo_delay_ms
        self._user = np.zeros(0, np.float64) if mic is None else mic.astype(np.float64)
        self._user_pos = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self.speaker = bytearray()
        self.microphone = bytearray()
        self.frames = 0
        self.mic_done = threading.Event()

    @property
    def latency_ms(self) -> float:
        return self.echo_delay_ms

    def inject(self, audio: Int16Audio) -> None:
        """The user speaks ``audio`` into the microphone from the next frame on."""
        with self._lock:
            rest = self._user[self._user_pos :]
            self._user = np.concatenate([rest, audio.astype(np.float64)])
            self._user_pos = 0
            self.mic_done.clear()

    def start(self, on_mic_frame: MicSink, next_speaker_frame: SpeakerSource) -> None:
        self._bind(on_mic_frame, next_speaker_frame)
        self._running.set()
        self._thread = threading.Thread(target=self._run, name="virtual-duplex", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running.clear()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def _mic_frame(self) -> bytes:
        n = self._n
        with self._lock:
            user = self._user[self._user_pos : self._user_pos + n]
            self._user_pos += user.size
            if self._user_pos >= self._user.size:
                self.mic_done.set()
        mic = np.zeros(n, np.float64)
        mic[: user.size] = user
        if self.echo_gain:
            end = len(self.speaker) // 2 - self._echo_delay + n
            if end > 0:
                start = max(0, end - n)
                played = np.frombuffer(bytes(self.speaker[start * 2 : end * 2]), "<i2")
                mic[n - played.size :] += self.echo_gain * played
        return np.clip(np.rint(mic), -32768, 32767).astype("<i2").tobytes()

    def _run(self) -> None:
        deadline = time.perf_counter()
        while self._running.is_set():
            indata = self._mic_frame()
            outdata = bytearray(self._frame_bytes)
            self._callback(indata, outdata, self._n, None, None)
            self.microphone += indata
            self.speaker += outdata
            self.frames += 1
            deadline += 0.02
            delay = deadline - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.2:  # fell far behind (a stalled machine): drop, don't burst
                deadline = time.perf_counter()
