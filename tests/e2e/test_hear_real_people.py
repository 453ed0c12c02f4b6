"""Recorded human speech and the no-espeak-ng user voice through the embedded `talk` path.

jfk.flac is one sentence with three natural pauses (about 1.1, 1.1 and 0.6 s): it must
be heard as one turn, with the words right and no repeated phrase in any transcript, as
recorded and also 12 dB quieter or under hiss (where webrtcvad alone used to split it
into two to four turns). "And so, my fellow Americans." reads as finished, so the turn
may end at that pause; the user carrying on within ``turns.continuation_ms`` takes the
end back, and the agent answers the whole sentence once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.test_cli import ENV, VOICECTL
from voicectl.asr.guards import is_loop
from voicectl.asr.wer import word_error_rate
from voicectl.audio.decode import decode_audio_file
from voicectl.audio.wav import write_wav
from voicectl.talk.user_audio import speak

pytestmark = pytest.mark.slow

JFK = Path(__file__).resolve().parents[2].parent / "shared" / "audio" / "jfk.flac"
JFK_SAID = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def _summary(*args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    result = subprocess.run(
        [*VOICECTL, "talk", *args, "--json"],
        capture_output=True, text=True, timeout=300, env=env or ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary: dict[str, object] = json.loads(result.stdout)
    return summary


def _jfk_variant(variant: str, tmp_path: Path) -> Path:
    if variant == "as recorded":
        return JFK
    audio = decode_audio_file(JFK, sample_rate=16000).astype(np.float64)
    if variant == "12 dB quieter":
        audio *= 10 ** (-12 / 20)
    else:  # white noise at -35 dBFS over the room tone
        audio += np.random.default_rng(7).normal(0.0, 32768 * 10 ** (-35 / 20), audio.size)
    path = tmp_path / "jfk-variant.wav"
    write_wav(path, np.clip(audio, -32768, 32767).astype("<i2").tobytes(), 16000)
    return path


def _answered_whole(replies: object, said: str) -> None:
    """The last reply (the echo LLM's) repeats the whole turn: the LLM saw it in one piece."""
    assert isinstance(replies, list)
    assert replies, "no reply"
    echoed = replies[-1].removeprefix("You said:")
    assert word_error_rate(said, echoed) <= 0.05, replies


@pytest.mark.parametrize("variant", ["as recorded", "12 dB quieter", "under hiss"])
def test_a_recorded_sentence_with_pauses_is_one_turn_heard_right(
    variant: str, tmp_path: Path
) -> None:
    summary = _summary("--input", str(_jfk_variant(variant, tmp_path)))
    transcripts = summary["transcripts"]
    assert isinstance(transcripts, list)
    assert len(transcripts) == 1, f"the sentence was split: {transcripts}"
    assert word_error_rate(JFK_SAID, transcripts[0]) <= 0.05, transcripts[0]
    assert not is_loop(transcripts[0])
    _answered_whole(summary["replies"], JFK_SAID)
    events = summary["events"]
    assert isinstance(events, dict)
    # At most one early end (at "Americans."), taken back; never a second turn.
    assert events.get("reply.stopped", 0) <= 1, events


def test_the_piper_user_voice_is_one_turn_heard_right(tmp_path: Path) -> None:
    # No espeak-ng on PATH: talk --say falls back to Piper, as on a machine without it.
    env = {**ENV, "PATH": f"{tmp_path}{os.pathsep}{Path(sys.executable).parent}"}
    assert shutil.which("espeak-ng", path=env["PATH"]) is None
    said = "What is the weather like today?"
    summary = _summary("--say", said, env=env)
    transcripts = summary["transcripts"]
    assert isinstance(transcripts, list)
    assert len(transcripts) == 1, transcripts
    assert not is_loop(transcripts[0])
    assert word_error_rate(said, transcripts[0]) <= 0.05, transcripts[0]


def test_a_recorded_interruption_stops_the_reply_and_is_one_clean_turn() -> None:
    summary = _summary(
        "--say", "Tell me a long story about a lighthouse keeper on a rocky island.",
        "--interrupt-input", str(JFK), "--interrupt-after", "0.8",
    )  # fmt: skip
    events = summary["events"]
    assert isinstance(events, dict)
    assert summary["barge_ins"] >= 1
    assert events.get("reply.stopped", 0) >= 1, "the interrupted reply was not stopped"
    transcripts = summary["transcripts"]
    assert isinstance(transcripts, list)
    assert len(transcripts) == 2, f"the interruption was split: {transcripts}"
    assert "lighthouse" in transcripts[0].lower()
    assert word_error_rate(JFK_SAID, transcripts[1]) <= 0.05, transcripts[1]
    assert not any(is_loop(text) for text in transcripts)
    _answered_whole(summary["replies"], JFK_SAID)


def test_an_undecodable_interruption_names_the_option_and_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"\x00garbage" * 200)
    result = subprocess.run(
        [*VOICECTL, "talk", "--say", "hello", "--interrupt-input", str(broken)],
        capture_output=True, text=True, timeout=120, env=ENV,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--interrupt-input" in result.stderr
    assert "broken.mp3" in result.stderr


def _one_small_step(path: Path) -> Path:
    """Two sentences, each reading as finished, 0.9 s apart: the turn ends too early."""
    first = speak("That's one small step for man.", sample_rate=16000)
    second = speak("One giant leap for mankind.", sample_rate=16000)
    pcm = np.concatenate([first, np.zeros(int(0.9 * 16000), np.int16), second])
    write_wav(path, pcm.astype("<i2").tobytes(), 16000)
    return path


@pytest.mark.parametrize("continuation_ms", [1500, 0])
def test_a_user_who_carries_on_after_the_turn_ended_keeps_one_turn(
    tmp_path: Path, continuation_ms: int
) -> None:
    config = tmp_path / "orchestrator.yaml"
    config.write_text(f"orchestrator:\n  turns:\n    continuation_ms: {continuation_ms}\n")
    summary = _summary("--input", str(_one_small_step(tmp_path / "step.wav")),
                       "--config", str(config))  # fmt: skip
    transcripts = summary["transcripts"]
    replies = summary["replies"]
    assert isinstance(transcripts, list)
    assert isinstance(replies, list)
    if continuation_ms == 0:  # the old behaviour: the second sentence is a new turn
        assert len(transcripts) == 2, transcripts
        return
    assert len(transcripts) == 1, f"the turn was split: {transcripts}"
    assert "small step" in transcripts[0].lower()
    assert "giant leap" in transcripts[0].lower()
    # The echo LLM answered the whole turn: it saw one user message with both sentences.
    assert "small step" in replies[-1].lower()
    assert "giant leap" in replies[-1].lower()
