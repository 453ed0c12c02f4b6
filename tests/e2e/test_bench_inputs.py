"""`bench turns|e2e|bargein --input`: a bad recording or flag is a usage error before any run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_cli import run
from tests.unit.test_decode import random_bytes

JFK = Path(__file__).resolve().parents[2] / ".." / "shared" / "audio" / "jfk.flac"


@pytest.mark.parametrize("bench", ["turns", "e2e", "bargein"])
def test_a_corrupt_recording_names_the_flag_and_the_file(tmp_path: Path, bench: str) -> None:
    path = random_bytes(tmp_path / "corrupt.flac")
    result = run("bench", bench, "--input", str(path), "--json")
    assert result.returncode == 2, result.stderr
    assert "--input" in result.stderr
    assert str(path) in result.stderr
    assert result.stdout == ""


def test_turns_needs_an_input() -> None:
    result = run("bench", "turns", "--json")
    assert result.returncode == 2
    assert "--input" in result.stderr


def test_references_must_match_the_inputs() -> None:
    result = run("bench", "turns", "--input", str(JFK), "--reference", "one",
                 "--reference", "two")  # fmt: skip
    assert result.returncode == 2
    assert "--reference: give one per --input (1), got 2" in result.stderr


def test_a_missing_reference_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "words.txt"
    result = run("bench", "turns", "--input", str(JFK), "--reference", str(missing))
    assert result.returncode == 2
    assert f"--reference {missing}" in result.stderr
