"""Live mode of `voicectl talk` without audio hardware: a virtual duplex device whose
microphone hears the speaker (acoustic echo), a real orchestrator, a real Piper worker.

With echo cancellation the agent's own voice in the microphone must not barge in; without
it, the same echo must (so the first test can fail). The CLI's device errors are checked
as a user meets them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from voicectl.audio.wav import read_wav, write_wav
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.asr import AsrEngine
from voicectl.orchestrator.config import OrchestratorConfig
from voicectl.orchestrator.server import Orchestrator
from voicectl.talk.aec import EchoCanceller
from voicectl.talk.client import TalkClient
from voicectl.talk.devices import VirtualDuplex
from voicectl.talk.live import LiveStats, SpeakerQueue, run_live
from voicectl.talk.user_audio import speak
from voicectl.worker.catalog import PIPER_JOE
from voicectl.worker.config import WorkerConfig
from voicectl.worker.server import Worker

pytestmark = pytest.mark.slow
pytest.importorskip("livekit.rtc", reason="needs the audio extra: uv sync --extra audio")

RATE = 16000
ECHO_GAIN = 0.5  # -6 dB: a laptop's speaker is about as loud in its microphone as the user
ECHO_DELAY_MS = 40.0
PROMPT = ("Tell me a long story about a lighthouse keeper who lived alone on a rocky island "
          "far out at sea, and about the storms he watched every winter.")  # fmt: skip


@pytest.fixture(scope="module")
async def orchestrator(asr_engine: AsrEngine) -> AsyncIterator[Orchestrator]:
    worker = Worker(WorkerConfig(port=0, ttl_seconds=None, default_model=PIPER_JOE.model_id,
                                 preload=(PIPER_JOE.model_id,)))  # fmt: skip
    await worker.start()
    server = Orchestrator(OrchestratorConfig(ws_port=0, worker=worker.address), asr=asr_engine)
    await server.start()
    yield server
    await server.stop()
    await worker.stop(grace=0)


class Live:
    """A talk session running through a virtual device until ``finish``."""

    def __init__(self, talk: TalkClient, device: VirtualDuplex, aec: EchoCanceller | None):
        self.talk, self.device, self.stop = talk, device, asyncio.Event()
        self.task = asyncio.create_task(run_live(talk, device, aec=aec, stop=self.stop))

    async def finish(self) -> LiveStats:
        self.stop.set()
        return await asyncio.wait_for(self.task, timeout=10)


def rms(pcm: bytes | bytearray) -> float:
    audio = np.frombuffer(bytes(pcm), "<i2").astype(np.float64)
    return float(np.sqrt(np.mean(audio**2))) if audio.size else 0.0


async def test_echo_cancellation_stops_the_agent_interrupting_itself(
    orchestrator: Orchestrator,
) -> None:
    device = VirtualDuplex(RATE, echo_gain=ECHO_GAIN, echo_delay_ms=ECHO_DELAY_MS)
    async with TalkClient(orchestrator.address, input_sample_rate=RATE,
                          output_sample_rate=RATE) as talk:  # fmt: skip
        live = Live(talk, device, EchoCanceller(RATE))
        await talk.send_text(PROMPT)
        await talk.wait_for(ev.ReplyStarted, timeout=30)
        speaker = talk.playback
        assert isinstance(speaker, SpeakerQueue)
        for _ in range(1000):  # until three seconds of the agent's voice leaked into the mic
            if speaker.frames_played >= 150:
                break
            await asyncio.sleep(0.02)
        assert talk.count(ev.ReplyPaused) == 0, "the agent's own echo barged in"
        assert rms(device.speaker) > 300, "the agent was speaking"
        assert rms(device.microphone) > 0.3 * rms(device.speaker), "the mic heard it"

        # The canceller must not deafen the session: the user can still barge in.
        finals = talk.count(ev.TranscriptFinal)  # the typed prompt is one
        device.inject(speak("Stop, wait a moment please.", sample_rate=RATE))
        await talk.wait_for(ev.ReplyPaused, timeout=5)
        final = await talk.wait_for(ev.TranscriptFinal, timeout=20, after=finals)
        stats = await live.finish()
    assert "wait" in final.event.text.lower()
    assert stats.mic_frames > 150
    assert stats.speaker_frames >= 150


async def test_without_echo_cancellation_the_same_echo_barges_in(
    orchestrator: Orchestrator,
) -> None:
    device = VirtualDuplex(RATE, echo_gain=ECHO_GAIN, echo_delay_ms=ECHO_DELAY_MS)
    async with TalkClient(orchestrator.address, input_sample_rate=RATE,
                          output_sample_rate=RATE) as talk:  # fmt: skip
        live = Live(talk, device, None)
        await talk.send_text(PROMPT)
        started = await talk.wait_for(ev.ReplyStarted, timeout=30)
        paused = await talk.wait_for(ev.ReplyPaused, timeout=3)
        await talk.wait_for(ev.Clear, timeout=1)
        await live.finish()
    assert paused.at - started.at < 3.0
    # Nobody spoke: the microphone held only the echo of the agent's voice.
    assert rms(device.microphone) > 100


# A stand-in for the sounddevice package (PortAudio): one microphone, one speaker, and a
# RawStream that calls back every 20 ms with memoryview buffers, the mic reading a WAV plus
# an echo of what the speaker played 60 ms before. It drives SoundDeviceDuplex, not VirtualDuplex.
FAKE_SOUNDDEVICE = """
import os, threading, time, wave
class PortAudioError(Exception): pass
class _Default: device = [0, 1]
default = _Default()
_DEVICES = [
    dict(index=0, name="fake mic", max_input_channels=1, max_output_channels=0,
         default_samplerate=16000.0),
    dict(index=1, name="fake speaker", max_input_channels=0, max_output_channels=2,
         default_samplerate=16000.0),
]
def query_devices(device=None, kind=None):
    if device is None and kind is None:
        return list(_DEVICES)
    index = default.device[kind == "output"] if device is None else device
    for d in _DEVICES:
        if index in (d["index"], d["name"]) and d[f"max_{kind}_channels"] > 0:
            return d
    raise ValueError(f"No {kind} device matching {device!r}")
class RawStream:
    latency = (0.02, 0.04)
    def __init__(self, *, samplerate, blocksize, device, channels, dtype, latency, callback):
        assert (blocksize, channels, dtype) == (samplerate // 50, 1, "int16"), "bad stream"
        with wave.open(os.environ["FAKE_MIC_WAV"]) as w:
            self.mic = w.readframes(w.getnframes())
        self.n, self.callback, self.played = blocksize * 2, callback, bytearray()
        self.running = False
    def start(self):
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
    def run(self):
        import numpy as np
        k, deadline, lag = 0, time.perf_counter(), 3 * self.n
        while self.running:
            mic = np.zeros(self.n // 2)
            user = np.frombuffer(self.mic[k * self.n:(k + 1) * self.n], "<i2")
            mic[:user.size] += user
            if len(self.played) >= lag:
                start = len(self.played) - lag
                mic += 0.5 * np.frombuffer(bytes(self.played[start:start + self.n]), "<i2")
            out = bytearray(self.n)
            self.callback(memoryview(mic.astype("<i2").tobytes()), memoryview(out),
                          self.n // 2, None, 0)
            self.played += out
            k += 1
            deadline += 0.02
            time.sleep(max(0.0, deadline - time.perf_counter()))
    def stop(self):
        self.running = False
        self.thread.join()
    def close(self, ignore_errors=True):
        with wave.open(os.environ["FAKE_SPEAKER_WAV"], "wb") as w:
            w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
            w.writeframes(bytes(self.played))
"""


def cli(*args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "voicectl", "talk", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_cli_live_mode_through_a_portaudio_stand_in(tmp_path: Path) -> None:
    """`voicectl talk` with no turn flags: the user speaks, the agent answers, the echo of
    its answer in the microphone is cancelled, and Ctrl-C ends the session cleanly."""
    (tmp_path / "sounddevice.py").write_text(FAKE_SOUNDDEVICE)
    user = np.concatenate([speak("Good morning, how are you?", sample_rate=RATE),
                           np.zeros(RATE, np.int16)])  # fmt: skip
    write_wav(tmp_path / "user.wav", user.astype("<i2").tobytes(), RATE)
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "FAKE_MIC_WAV": str(tmp_path / "user.wav"),
           "FAKE_SPEAKER_WAV": str(tmp_path / "speaker.wav")}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "voicectl", "talk"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the test's timeout bounds this
            lines.append(line)
            if line.startswith("agent:"):
                break
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    output = "".join(lines)
    assert proc.returncode == 0, stderr
    assert "you: Good morning" in output
    assert "agent: You said: Good morning" in output
    assert "barge-in" not in output, "the agent's echo interrupted it"
    played, _ = read_wav(tmp_path / "speaker.wav")
    assert np.abs(played).max() > 1000, "the speaker played the reply"


def test_live_mode_without_the_audio_extra_names_it(tmp_path: Path) -> None:
    (tmp_path / "sounddevice.py").write_text("raise ImportError(\"No module named 'sounddevice'\")")
    (tmp_path / "livekit").mkdir()
    (tmp_path / "livekit" / "__init__.py").write_text("raise ImportError('no livekit')")
    result = cli(pythonpath=tmp_path)
    assert result.returncode == 2
    assert "uv sync --extra audio" in result.stderr
    assert "--say" in result.stderr
    listed = cli("--list-devices", pythonpath=tmp_path)
    assert listed.returncode == 2
    assert "uv sync --extra audio" in listed.stderr


def test_no_audio_hardware_lists_nothing_and_live_mode_says_so() -> None:
    sd = pytest.importorskip("sounddevice", reason="needs the audio extra: uv sync --extra audio")
    if any(d["max_input_channels"] > 0 for d in sd.query_devices()):
        pytest.skip("this machine has a microphone")
    listed = cli("--list-devices", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    assert "no audio devices found" in cli("--list-devices").stdout
    live = cli()
    assert live.returncode == 2
    assert "no audio input device found" in live.stderr
    assert "--say" in live.stderr
