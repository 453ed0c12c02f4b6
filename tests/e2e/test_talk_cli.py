"""`voicectl talk` and `voicectl orchestrator` as a user runs them, with no audio device."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.test_cli import ENV, VOICECTL, free_port, run
from voicectl.audio.wav import write_wav
from voicectl.talk.user_audio import speak

pytestmark = pytest.mark.slow


def test_talk_spoken_turn_with_barge_in_embedded(tmp_path: Path) -> None:
    out = tmp_path / "session.wav"
    result = run(
        "talk", "--say", "Tell me a long story about a lighthouse keeper on a rocky island.",
        "--interrupt", "Stop, wait a moment please.", "--interrupt-after", "1.0",
        "--output", str(out), "--json", timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["barge_ins"] >= 1
    assert summary["events"]["reply.stopped"] >= 1
    assert "lighthouse" in summary["transcripts"][0].lower()
    assert "wait" in summary["transcripts"][-1].lower()
    with wave.open(str(out)) as wav:
        audio = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert np.abs(audio).max() > 1000, "the recording holds the agent's voice"


def test_talk_file_mode(tmp_path: Path) -> None:
    user = tmp_path / "user.wav"
    pcm = np.concatenate([speak("Good morning, how are you?", sample_rate=22050)])
    write_wav(user, pcm.astype("<i2").tobytes(), 22050)
    result = run("talk", "--input", str(user), "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert "morning" in summary["transcripts"][0].lower()
    assert summary["replies"][0].startswith("You said:")


def test_talk_without_a_user_turn_is_a_usage_error() -> None:
    result = run("talk")
    assert result.returncode == 2
    assert "--say" in result.stderr


def test_orchestrator_service_and_talk_over_the_network(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*VOICECTL, "orchestrator", "--ws-port", str(port), "-c", "configs/orchestrator.yaml"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV,
        cwd=Path(__file__).parents[2],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        result = None
        while time.monotonic() < deadline:
            result = run("talk", "--url", f"ws://127.0.0.1:{port}", "--text", "hello there",
                         "--json", timeout=120)  # fmt: skip
            if result.returncode != 3:
                break
            time.sleep(0.5)
        assert result is not None
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["replies"] == ["You said: hello there."]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--text", "hi", "--rate", "11111"], "--rate 11111"),
        (["--text", "hi", "--url", "ws://127.0.0.1:1", "--worker", "127.0.0.1:2"], "--url"),
    ],
)
def test_talk_bad_flags_are_usage_errors(args: list[str], words: str) -> None:
    result = run("talk", *args)
    assert result.returncode == 2
    assert words in result.stderr


def test_talk_input_that_is_not_a_wav(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.wav"
    bogus.write_text("these are not samples")
    result = run("talk", "--input", str(bogus))
    assert result.returncode == 2
    assert "not an audio file" in result.stderr
    assert str(bogus) in result.stderr


def test_talk_replays_a_scenario_with_noise_and_barge_in(tmp_path: Path) -> None:
    """configs/scenarios/bargein.yaml: a turn, a noise burst over the reply (pause, resume),
    then speech over the reply (pause, stop, new turn). The mock voice keeps timing stable."""
    config = tmp_path / "orchestrator.yaml"
    config.write_text("orchestrator:\n  model_id: mock:sine\n")
    scenario = Path(__file__).parents[2] / "configs" / "scenarios" / "bargein.yaml"
    result = run("talk", "--scenario", str(scenario), "--config", str(config), "--json",
                 timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    events = summary["events"]
    assert events["reply.paused"] >= 2
    assert events["reply.resumed"] >= 1
    assert events["reply.stopped"] >= 1
    transcripts = " ".join(summary["transcripts"]).lower()
    assert "lighthouse" in transcripts
    assert "wait" in transcripts


def test_talk_bad_scenario_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("events:\n  - {at: soon, say: hi}\n")
    result = run("talk", "--scenario", str(bad))
    assert result.returncode == 2
    assert "events[0]" in result.stderr
