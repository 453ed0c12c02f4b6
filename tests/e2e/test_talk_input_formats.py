"""`voicectl talk --input` takes any recording, and refuses a bad one before anything starts.

A good file passes validation and the command then fails to reach the orchestrator given by
`--url` (exit 3), a bad one ends at validation (exit 2): the same `decode_audio_file` call
the conversation uses, so no orchestrator is needed. A full conversation from a recording
is tested elsewhere (it costs real time).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.test_cli import free_port, run
from tests.unit.test_decode import random_bytes, write_int_wav, write_pyav

JFK = Path(__file__).resolve().parents[2] / ".." / "shared" / "audio" / "jfk.flac"


def unreachable() -> str:
    return f"ws://127.0.0.1:{free_port()}"


@pytest.mark.parametrize("name", ["tones.flac", "tones.mp3", "stereo-44k.wav", "24bit.wav",
                                  "phone-8k.wav", "jfk.flac"])  # fmt: skip
def test_any_recording_passes_validation(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name == "jfk.flac":
        path = JFK
    elif name.endswith((".flac", ".mp3")):
        write_pyav(path, "flac" if name.endswith(".flac") else "libmp3lame", 44100)
    else:
        rate = 8000 if "8k" in name else 44100
        write_int_wav(path, rate, 3 if "24bit" in name else 2, 1 if "8k" in name else 2)
    url = unreachable()
    result = run("talk", "--input", str(path), "--url", url)
    assert result.returncode == 3, result.stderr  # decoded, then the orchestrator is absent
    assert f"no orchestrator listening on {url.removeprefix('ws://')}" in result.stderr


@pytest.mark.parametrize("name", ["corrupt.flac", "corrupt.wav", "corrupt.mp3"])
def test_a_corrupt_recording_is_a_usage_error_naming_file_and_flag(
    tmp_path: Path, name: str
) -> None:
    path = random_bytes(tmp_path / name)
    result = run("talk", "--input", str(path))  # no --url: it would start an embedded stack
    assert result.returncode == 2, result.stderr
    absent = run("talk", "--input", str(path), "--url", unreachable())
    assert absent.returncode == 2, absent.stderr  # the file is judged before the network
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "--input" in lines[0]
    assert str(path) in lines[0]
    assert "starting an embedded" not in result.stderr


def test_a_missing_recording_is_a_usage_error(tmp_path: Path) -> None:
    result = run("talk", "--input", str(tmp_path / "nowhere.flac"))
    assert result.returncode == 2
    assert "no such file" in result.stderr
    assert "nowhere.flac" in result.stderr


def test_a_scenario_playing_a_bad_recording_names_the_event(tmp_path: Path) -> None:
    random_bytes(tmp_path / "clip.wav")
    scenario = tmp_path / "scene.yaml"
    scenario.write_text("events:\n  - {at: 0.5, play: clip.wav}\n")
    result = run("talk", "--scenario", str(scenario))
    assert result.returncode == 2
    assert "events[0]" in result.stderr
    assert "clip.wav" in result.stderr


def test_a_scenario_playing_a_recording_passes_validation(tmp_path: Path) -> None:
    with wave.open(str(tmp_path / "clip.wav"), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(np.zeros(44100 * 2, dtype="<i2").tobytes())
    scenario = tmp_path / "scene.yaml"
    scenario.write_text("events:\n  - {at: 0.5, play: clip.wav}\n")
    result = run("talk", "--scenario", str(scenario), "--url", unreachable())
    assert result.returncode == 3, result.stderr
