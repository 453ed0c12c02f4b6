"""VAD: pure hysteresis transitions, webrtcvad on synthesized inputs, input resampling."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import soxr

from voicectl.audio.decode import decode_audio_file
from voicectl.audio.frames import SUPPORTED_SAMPLE_RATES, Int16Audio, float_to_pcm16
from voicectl.orchestrator.silero import SileroStream
from voicectl.orchestrator.vad import (
    VAD_FRAME_BYTES,
    Hysteresis,
    InputResampler,
    VadEvent,
    VoiceActivityDetector,
    rms_dbfs,
)

START, END = VadEvent.SPEECH_START, VadEvent.SPEECH_END


def run(hysteresis: Hysteresis, pattern: str) -> list[VadEvent | None]:
    """Feed "1" (speech) / "0" (silence) frames; the event after each frame."""
    return [hysteresis.update(bit == "1") for bit in pattern]


def frames_of(pcm: Int16Audio) -> list[bytes]:
    usable = pcm[: pcm.size - pcm.size % 320]
    return [usable[i : i + 320].tobytes() for i in range(0, usable.size, 320)]


def events(vad: VoiceActivityDetector, pcm: Int16Audio) -> list[VadEvent]:
    return [event for frame in frames_of(pcm) if (event := vad.process(frame)) is not None]


def silence(seconds: float) -> Int16Audio:
    return np.zeros(int(16000 * seconds), dtype=np.int16)


# --- Hysteresis (pure) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "stop", "pattern", "expected"),
    [
        (3, 2, "110110", [None] * 6),  # runs of 2 never reach 3
        (3, 2, "111", [None, None, START]),
        (3, 2, "1110100", [None, None, START, None, None, None, END]),
        (1, 1, "1010", [START, END, START, END]),
        (2, 3, "11" + "101101" + "000", [None, START, *[None] * 6, None, None, END]),
    ],
)
def test_hysteresis_transition_table(
    start: int, stop: int, pattern: str, expected: list[VadEvent | None]
) -> None:
    assert run(Hysteresis(start_frames=start, stop_frames=stop), pattern) == expected


def test_in_speech_and_segment_counters() -> None:
    h = Hysteresis(start_frames=2, stop_frames=2)
    assert not h.in_speech
    run(h, "11")
    assert h.in_speech
    assert (h.segment_frames, h.speech_frames_in_segment) == (2, 2)
    run(h, "01")
    assert (h.segment_frames, h.speech_frames_in_segment) == (4, 3)
    assert run(h, "00") == [None, END]
    assert not h.in_speech
    assert (h.segment_frames, h.speech_frames_in_segment) == (0, 0)


def test_stricter_onset_mid_run_takes_effect_at_once() -> None:
    h = Hysteresis(start_frames=2, stop_frames=5)
    assert run(h, "1") == [None]
    h.set_thresholds(start_frames=4, stop_frames=5)  # the agent started speaking
    assert run(h, "111") == [None, None, START]  # the run counts: 1 + 3 = 4


def test_laxer_onset_mid_run_fires_on_the_next_speech_frame() -> None:
    h = Hysteresis(start_frames=5, stop_frames=5)
    run(h, "111")
    h.set_thresholds(start_frames=2, stop_frames=5)
    assert run(h, "1") == [START]


def test_shorter_stop_mid_silence_ends_on_the_next_silent_frame() -> None:
    h = Hysteresis(start_frames=1, stop_frames=10)
    assert run(h, "1000") == [START, None, None, None]
    h.set_thresholds(start_frames=1, stop_frames=2)
    assert run(h, "0") == [END]


def test_threshold_change_then_speech_resets_the_silence_run() -> None:
    h = Hysteresis(start_frames=1, stop_frames=3)
    run(h, "100")
    h.set_thresholds(start_frames=1, stop_frames=3)
    assert run(h, "1000") == [None, None, None, END]


def test_reset_returns_to_silence_without_an_event() -> None:
    h = Hysteresis(start_frames=1, stop_frames=3)
    run(h, "1")
    h.reset()
    assert not h.in_speech
    assert run(h, "0001") == [None, None, None, START]


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("start_frames", {"start_frames": 0}), ("stop_frames", {"stop_frames": -1})],
)
def test_frame_thresholds_are_validated(name: str, kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=name):
        Hysteresis(**{"start_frames": 3, "stop_frames": 3, **kwargs})
    with pytest.raises(ValueError, match=name):
        VoiceActivityDetector(**kwargs)


# --- VoiceActivityDetector (webrtcvad) -----------------------------------------------------


@pytest.mark.parametrize("aggressiveness", [-1, 4, True])
def test_aggressiveness_is_validated(aggressiveness: int) -> None:
    with pytest.raises(ValueError, match="aggressiveness"):
        VoiceActivityDetector(aggressiveness=aggressiveness)


@pytest.mark.parametrize("size", [0, 320, 639, 641, 960])
def test_wrong_frame_size_names_the_expected_size(size: int) -> None:
    with pytest.raises(ValueError, match="640 bytes"):
        VoiceActivityDetector().process(bytes(size))


def test_silence_has_no_events() -> None:
    vad = VoiceActivityDetector(aggressiveness=0, start_frames=1)
    assert events(vad, silence(2.0)) == []
    assert not vad.in_speech


def test_short_noise_burst_does_not_start_speech() -> None:
    rng = np.random.default_rng(7)
    burst = float_to_pcm16(rng.uniform(-0.8, 0.8, 16000 * 60 // 1000).astype(np.float32))
    pcm = np.concatenate([silence(0.4), burst, silence(0.6)])
    assert events(VoiceActivityDetector(start_frames=5), pcm) == []
    # The burst itself reads as speech to webrtcvad: hysteresis is what rejects it.
    assert events(VoiceActivityDetector(start_frames=2, stop_frames=5), pcm) == [START, END]


def test_level_gate_removes_webrtcvad_hangover() -> None:
    rng = np.random.default_rng(7)
    burst = float_to_pcm16(rng.uniform(-0.8, 0.8, 16000 * 60 // 1000).astype(np.float32))
    pcm = np.concatenate([silence(0.4), burst, silence(0.6)])
    ungated = VoiceActivityDetector(start_frames=2, min_rms_dbfs=None)
    gated = VoiceActivityDetector(start_frames=2)
    ungated_frames = sum(ungated.is_speech(frame) for frame in frames_of(pcm))
    gated_frames = sum(gated.is_speech(frame) for frame in frames_of(pcm))
    assert gated_frames == 3  # exactly the burst
    assert ungated_frames > gated_frames  # webrtcvad alone says speech after the burst


def test_rms_dbfs() -> None:
    assert rms_dbfs(bytes(640)) == -math.inf
    full = np.full(320, 32767, dtype=np.int16).tobytes()
    assert rms_dbfs(full) == pytest.approx(0.0, abs=0.01)
    assert rms_dbfs((np.full(320, 328, dtype=np.int16)).tobytes()) == pytest.approx(-40, abs=0.1)


async def _one(text: str) -> AsyncIterator[str]:
    await asyncio.sleep(0)
    yield text


@pytest.mark.slow
async def test_spoken_sentence_is_one_segment() -> None:
    from voicectl.worker.adapters.base import CancelToken, SynthesisOptions
    from voicectl.worker.adapters.piper import PiperAdapter
    from voicectl.worker.catalog import PIPER_JOE

    piper = PiperAdapter.load(PIPER_JOE)
    try:
        text = "Please schedule the meeting for Thursday afternoon."
        stream = piper.stream(
            _one(text), voice="default", options=SynthesisOptions(), cancel=CancelToken()
        )
        audio = np.concatenate([chunk async for chunk in stream])
    finally:
        piper.unload()
    speech = float_to_pcm16(np.asarray(soxr.resample(audio, 22050, 16000), dtype=np.float32))
    pcm = np.concatenate([silence(0.5), speech, silence(1.0)])
    for aggressiveness in (0, 2, 3):
        vad = VoiceActivityDetector(aggressiveness=aggressiveness)
        assert events(vad, pcm) == [START, END], aggressiveness


# --- Silero in the user's turn ------------------------------------------------------------

JFK_HEAD = Path(__file__).parents[1] / "data" / "asr" / "jfk-first-9.2s.flac"


def hiss(seconds: float, dbfs: float, seed: int = 3) -> Int16Audio:
    noise = np.random.default_rng(seed).normal(0.0, 32768 * 10 ** (dbfs / 20), int(16000 * seconds))
    return np.clip(noise, -32768, 32767).astype(np.int16)


def user_turn_vad(speech_prob: float | None) -> VoiceActivityDetector:
    return VoiceActivityDetector(start_frames=3, stop_frames=12, speech_prob=speech_prob,
                                 silero=SileroStream())  # fmt: skip


def test_a_pause_under_hiss_is_a_pause_with_silero() -> None:
    # Recorded speech, a second of -35 dBFS hiss, the speech again: webrtcvad hears the
    # hiss as speech; with Silero the pause ends the segment and the speech starts anew.
    speech = decode_audio_file(JFK_HEAD, sample_rate=16000)[: 16000 * 2]
    pcm = np.concatenate([speech, hiss(1.0, -35), speech, silence(0.5)])
    assert events(user_turn_vad(0.5), pcm) == [START, END, START, END]
    webrtc_alone = VoiceActivityDetector(start_frames=3, stop_frames=12)
    assert events(webrtc_alone, pcm) == [START, END], "webrtcvad alone hides the pause"


def test_hiss_alone_never_starts_speech_with_silero() -> None:
    assert events(user_turn_vad(0.5), np.concatenate([silence(0.2), hiss(2.0, -30)])) == []


def test_without_speech_prob_silero_is_fed_but_does_not_decide() -> None:
    vad = user_turn_vad(None)
    pcm = np.concatenate([silence(0.2), hiss(2.0, -30)])
    webrtc_alone = events(VoiceActivityDetector(start_frames=3, stop_frames=12), pcm)
    assert webrtc_alone == [START, END]  # the hiss, taken for speech
    assert events(vad, pcm) == webrtc_alone


@pytest.mark.parametrize("value", [0.1, 1.5, -1.0])
def test_speech_prob_is_validated(value: float) -> None:
    with pytest.raises(ValueError, match="speech_prob must be"):
        VoiceActivityDetector(speech_prob=value)


# --- InputResampler ------------------------------------------------------------------------


def tone(rate: int, seconds: float, hz: float = 440.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return float_to_pcm16((0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)).tobytes()


@pytest.mark.parametrize("rate", SUPPORTED_SAMPLE_RATES)
def test_one_second_in_20ms_frames_gives_50_frames(rate: int) -> None:
    resampler = InputResampler(rate)
    data = tone(rate, 1.0)
    step = resampler.input_frame_bytes
    streamed = [f for i in range(0, len(data), step) for f in resampler.push(data[i : i + step])]
    assert len(streamed) >= 45  # at most ~60 ms held back by the filter while streaming
    out = streamed + resampler.flush()
    assert len(out) == 50
    assert all(len(frame) == VAD_FRAME_BYTES for frame in out)
    pcm = np.frombuffer(b"".join(out), dtype="<i2").astype(np.float32)
    spectrum = np.abs(np.fft.rfft(pcm))
    assert abs(float(np.argmax(spectrum)) * 16000 / pcm.size - 440) < 5  # same tone


@pytest.mark.parametrize("rate", SUPPORTED_SAMPLE_RATES)
def test_odd_chunk_sizes_carry_remainders(rate: int) -> None:
    resampler = InputResampler(rate)
    data = tone(rate, 0.5)
    out = [f for i in range(0, len(data), 333) for f in resampler.push(data[i : i + 333])]
    out += resampler.flush()
    assert len(out) == 25


def test_16k_input_passes_through_unchanged() -> None:
    resampler = InputResampler(16000)
    data = tone(16000, 0.1)
    assert b"".join(resampler.push(data[:1000]) + resampler.push(data[1000:])) == data
    assert resampler.flush() == []


def test_flush_pads_the_last_partial_frame() -> None:
    resampler = InputResampler(16000)
    assert resampler.push(bytes(700)) == [bytes(640)]
    assert resampler.flush() == [bytes(640)]
    resampler.push(bytes(700))
    assert resampler.flush(pad=False) == []


@pytest.mark.parametrize("rate", [0, 11025, 32000, 96000])
def test_unsupported_rate_is_rejected(rate: int) -> None:
    with pytest.raises(ValueError, match=r"unsupported input sample rate.*48000"):
        InputResampler(rate)
