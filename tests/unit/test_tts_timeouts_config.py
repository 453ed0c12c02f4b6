"""tts.first_frame_timeout_s / tts.stall_timeout_s: how long a silent worker is trusted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from voicectl.orchestrator.config import (
    OrchestratorConfigError,
    from_mapping,
    load_orchestrator_config,
    resolve_orchestrator_config,
)
from voicectl.rpc.frame_watch import FrameTimeouts


def test_defaults_leave_room_for_a_model_load() -> None:
    assert load_orchestrator_config(env={}).tts_timeouts == FrameTimeouts(
        first_frame=60.0, stall=10.0, control=2.0
    )


def test_file_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "orchestrator.yaml"
    path.write_text("orchestrator:\n  tts:\n    first_frame_timeout_s: 5\n    stall_timeout_s: 2\n")
    env = {"VOICECTL_TTS__STALL_TIMEOUT_S": "3.5"}
    resolved = resolve_orchestrator_config(path, env=env)
    assert resolved.settings.to_config().tts_timeouts == FrameTimeouts(first_frame=5, stall=3.5)
    assert resolved.source("tts.first_frame_timeout_s") == f"file {path}"
    assert resolved.source("tts.stall_timeout_s") == "env VOICECTL_TTS__STALL_TIMEOUT_S"


@pytest.mark.parametrize(
    ("keys", "words"),
    [
        ({"stall_timeout_s": 0.1}, "tts.stall_timeout_s must be seconds, 0.5..600, got 0.1"),
        ({"stall_timeout_s": 601}, "tts.stall_timeout_s must be seconds, 0.5..600, got 601"),
        ({"first_frame_timeout_s": 0}, "tts.first_frame_timeout_s must be seconds, 1..600"),
        ({"first_frame_timeout_s": "soon"}, "tts.first_frame_timeout_s must be seconds"),
        ({"stall_s": 3}, "unknown key 'tts.stall_s'; known keys: first_frame_timeout_s, stall"),
    ],
)
def test_bad_values_are_named(keys: dict[str, object], words: str) -> None:
    with pytest.raises(OrchestratorConfigError, match="^" + words.replace(".", r"\.")):
        from_mapping({"tts": keys})


def test_frame_timeouts_refuse_zero() -> None:
    with pytest.raises(ValueError, match=r"FrameTimeouts\.control must be > 0 seconds, got 0"):
        FrameTimeouts(control=0)


def test_config_show_lists_both_keys_with_their_variables() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "voicectl", "config", "show", "orchestrator", "--json"],
        capture_output=True, text=True, timeout=60,
        env={"VOICECTL_TTS__FIRST_FRAME_TIMEOUT_S": "20", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {row["key"]: row for row in json.loads(result.stdout)["values"]}
    assert rows["tts.first_frame_timeout_s"]["value"] == 20.0
    assert rows["tts.first_frame_timeout_s"]["source"] == "env VOICECTL_TTS__FIRST_FRAME_TIMEOUT_S"
    assert rows["tts.stall_timeout_s"] == {
        "key": "tts.stall_timeout_s", "value": 10.0, "source": "default",
        "env": "VOICECTL_TTS__STALL_TIMEOUT_S",
    }  # fmt: skip
