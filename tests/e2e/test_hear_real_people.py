"""Recorded human speech and the no-espeak-ng user voice through the embedded `talk` path.

jfk.flac is one sentence with three natural pauses (about 1.1, 1.1 and 0.6 s): it must
be heard as one turn, with the words right and no repeated phrase in any transcript.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_cli import ENV, VOICECTL
from voicectl.asr.guards import is_loop
from voicectl.asr.wer import word_error_rate

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


def test_a_recorded_sentence_with_pauses_is_one_turn_heard_right() -> None:
    summary = _summary("--input", str(JFK))
    transcripts = summary["transcripts"]
    assert isinstance(transcripts, list)
    assert len(transcripts) == 1, f"the sentence was split: {transcripts}"
    assert word_error_rate(JFK_SAID, transcripts[0]) <= 0.05, transcripts[0]
    assert not is_loop(transcripts[0])
    assert summary["barge_ins"] == 0, "the sentence's second half barged in on the reply"
    replies = summary["replies"]
    assert isinstance(replies, list)
    assert len(replies) == 1


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
