"""The echo canceller (livekit.rtc's WebRTC audio processing) on synthetic signals.

Far end: espeak-ng speech, as the speaker would play it. Near end: that signal 40 ms
later at -6 dB (the echo a laptop microphone picks up), plus the user when they talk.
"""

from __future__ import annotations

import sys

import numpy as np
import numpy.typing as npt
import pytest

from voicectl.talk.aec import EchoCanceller, MissingAudioExtra, load_rtc
from voicectl.talk.user_audio import speak

pytest.importorskip("livekit.rtc", reason="needs the audio extra: uv sync --extra audio")

RATE = 16000
N = RATE // 50  # samples in a 20 ms frame
ECHO_DELAY = RATE * 40 // 1000
ECHO_GAIN = 0.5
CONVERGED_S = 1.5  # measure after this much far-end speech
MIN_ERLE_DB = 20.0  # measured ~45 dB here (livekit 1.2); 20 leaves room for other builds

Signal = npt.NDArray[np.float64]

AGENT = ("The quick brown fox jumps over the lazy dog. She sells sea shells by the sea "
         "shore, and the shells she sells are surely sea shells.")  # fmt: skip
USER = "Hello, can you hear me? I would like a table for two."


def frames(signal: Signal) -> Signal:
    usable = signal[: signal.size // N * N]
    return usable.reshape(-1, N)


def pcm(frame: Signal) -> bytes:
    return np.clip(np.rint(frame), -32768, 32767).astype("<i2").tobytes()


def run(aec: EchoCanceller, far: Signal, near: Signal) -> Signal:
    """Feed both streams frame by frame, far end first, as the live loop does."""
    out = []
    for played, heard in zip(frames(far), frames(near), strict=True):
        aec.process_far_end(pcm(played))
        out.append(np.frombuffer(aec.process_near_end(pcm(heard)), "<i2"))
    return np.concatenate(out).astype(np.float64)


def echo_of(far: Signal) -> Signal:
    echo = np.zeros_like(far)
    echo[ECHO_DELAY:] = ECHO_GAIN * far[:-ECHO_DELAY]
    return echo


def energy_db(signal: Signal) -> float:
    return float(10 * np.log10(np.sum(signal**2) + 1.0))


def envelope(signal: Signal) -> Signal:
    return np.sqrt(np.mean(frames(signal) ** 2, axis=1))


@pytest.fixture(scope="module")
def agent() -> Signal:
    speech = speak(AGENT, sample_rate=RATE).astype(np.float64)
    return np.concatenate([speech, np.zeros(RATE // 2)])


@pytest.fixture(scope="module")
def user() -> Signal:
    return speak(USER, sample_rate=RATE, voice="en-gb").astype(np.float64)


def test_echo_of_the_speaker_is_removed(agent: Signal) -> None:
    near = echo_of(agent)
    out = run(EchoCanceller(RATE, delay_ms=40), agent, near)
    start = int(CONVERGED_S * RATE)
    erle = energy_db(near[start : out.size]) - energy_db(out[start:])
    print(f"ERLE after {CONVERGED_S} s: {erle:.1f} dB")
    assert erle > MIN_ERLE_DB
    # And it is not one lucky stretch: every second after convergence is cancelled.
    for second in range(start, out.size - RATE, RATE):
        window = slice(second, second + RATE)
        if energy_db(near[window]) > 100:  # skip near-silent seconds
            assert energy_db(near[window]) - energy_db(out[window]) > MIN_ERLE_DB / 2


def test_the_user_passes_through_when_the_speaker_is_silent(user: Signal) -> None:
    out = run(EchoCanceller(RATE, delay_ms=40), np.zeros_like(user), user)
    clean = user[: out.size]
    assert abs(energy_db(out) - energy_db(clean)) < 2.0
    # The module adds a few ms of latency; compare loudness contours on 20 ms frames.
    lag = max(range(0, N), key=lambda k: float(np.dot(out[k:], clean[: out.size - k])))
    aligned = np.corrcoef(envelope(out[lag:]), envelope(clean[: out.size - lag]))[0, 1]
    assert aligned > 0.95


def test_the_user_survives_double_talk(agent: Signal, user: Signal) -> None:
    """The user speaks over the agent after convergence: their voice stays, the echo goes."""
    start = int(2.0 * RATE)
    far = agent
    near = echo_of(far)
    near[start : start + user.size] += user[: far.size - start]
    out = run(EchoCanceller(RATE, delay_ms=40), far, near)
    during = slice(start, min(start + user.size, out.size))
    kept = energy_db(out[during]) - energy_db(user[: during.stop - start])
    print(f"double talk: the user's speech kept at {kept:+.1f} dB")
    assert kept > -6.0, f"the user's speech lost {-kept:.1f} dB"
    user_env = envelope(user[: during.stop - start])
    out_env = envelope(out[during])
    echo_env = envelope(near[during] - user[: during.stop - start])
    assert np.corrcoef(out_env, user_env)[0, 1] > np.corrcoef(out_env, echo_env)[0, 1]


def test_frames_must_be_20_ms() -> None:
    aec = EchoCanceller(RATE)
    with pytest.raises(ValueError, match="640 bytes"):
        aec.process_near_end(bytes(320))
    with pytest.raises(ValueError, match="10 ms"):
        EchoCanceller(22050)


def test_a_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "livekit", None)
    with pytest.raises(MissingAudioExtra, match=r"uv sync --extra audio"):
        load_rtc()
