"""``voicectl voices add | ls | rm`` as a user runs them, and ``say --voice`` with the result,
on the tiny XTTS-v2 checkpoint and a recorded human voice (docs/adapters.md's lines)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import JFK, jfk_clip
from tests.e2e.test_cli import ENV, VOICECTL, wav_info
from voicectl.audio.frames import float_to_pcm16
from voicectl.audio.wav import write_wav
from voicectl.bench.tiny_xtts import TinyXtts

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[2]


def voicectl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VOICECTL, *args], capture_output=True, text=True, timeout=300,
                          env={**ENV, **(env or {})}, check=False)  # fmt: skip


@pytest.fixture
def packs(tiny_xtts: TinyXtts, tmp_path: Path) -> Path:
    """A copy of the tiny voicepack without its voices: these tests add their own."""
    folder = tmp_path / "voicepacks" / "tiny-xtts"
    shutil.copytree(tiny_xtts.folder, folder, ignore=shutil.ignore_patterns("voices"))
    return folder.parent


def test_add_list_speak_and_remove_a_cloned_voice(packs: Path, tmp_path: Path) -> None:
    reference = tmp_path / "ana.wav"
    write_wav(reference, float_to_pcm16(jfk_clip(0.0, 8.0, rate=24000)), 24000)
    added = voicectl("voices", "add", "ana", "--model", "xtts:tiny", "--reference",
                     str(reference), "--voicepacks", str(packs), "--json")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["reference_seconds"] == 8.0
    listed = json.loads(voicectl("voices", "ls", "--voicepacks", str(packs), "--json").stdout)
    assert [v["voice"] for v in listed["voices"]] == ["ana"]

    out = tmp_path / "ana-says.wav"
    said = voicectl("say", "Hello there.", "--model", "xtts:tiny", "--voice", "ana",
                    "--output", str(out), env={"VOICECTL_VOICEPACKS_DIR": str(packs)})  # fmt: skip
    assert said.returncode == 0, said.stderr
    rate, seconds = wav_info(out)
    assert rate == 24000
    assert seconds > 0.3
    # The agent answers in the cloned voice (embedded orchestrator and worker).
    talked = voicectl("talk", "--text", "Tell me something.", "--model", "xtts:tiny", "--voice",
                      "ana", "--json", env={"VOICECTL_VOICEPACKS_DIR": str(packs)})  # fmt: skip
    assert talked.returncode == 0, talked.stderr
    summary = json.loads(talked.stdout)
    assert summary["replies"] == ["You said: Tell me something."]
    assert summary["events"].get("error", 0) == 0

    again = voicectl("voices", "add", "ana", "--model", "xtts:tiny", "--reference",
                     str(reference), "--voicepacks", str(packs))  # fmt: skip
    assert again.returncode == 5
    assert "--force replaces it" in again.stderr
    removed = voicectl("voices", "rm", "ana", "--model", "xtts:tiny", "--voicepacks", str(packs))
    assert removed.returncode == 0, removed.stderr
    listed = json.loads(voicectl("voices", "ls", "--voicepacks", str(packs), "--json").stdout)
    assert listed["voices"] == []


def test_a_poor_reference_or_a_wrong_model_is_a_clear_error(packs: Path) -> None:
    long = voicectl("voices", "add", "ana", "--model", "xtts:tiny", "--reference", str(JFK),
                    "--voicepacks", str(packs))  # fmt: skip
    assert long.returncode == 2
    assert "is 11.0 s long; use 6-10 s of one person speaking" in long.stderr
    piper = voicectl("voices", "add", "ana", "--model", "piper:en_US-joe-medium", "--reference",
                     str(JFK), "--voicepacks", str(REPO / "voicepacks"))  # fmt: skip
    assert piper.returncode == 2
    assert "adapter 'piper' does not clone voices (these do: xtts)" in piper.stderr
    unknown = voicectl("voices", "rm", "ana", "--model", "xtts:nope", "--voicepacks", str(packs))
    assert unknown.returncode == 4
