"""The --no-skips switch CI sets: a skip is a pass elsewhere, a failure in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
SAMPLE = """
import pytest

def test_needs_an_extra():
    pytest.importorskip("no_such_module_here", reason="needs the extra: pip install it")

def test_runs():
    assert True
"""
MODULE_SKIP = """
import pytest
pytest.importorskip("no_such_module_here", reason="needs the extra: pip install it")

def test_never_collected():
    assert True
"""


def pytest_run(tmp_path: Path, source: str, *args: str, no_skips_env: str = "") -> str:
    test_file = tmp_path / "test_sample.py"
    test_file.write_text(source)
    env = {**os.environ, "VOICECTL_NO_SKIPS": no_skips_env, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "tests.strict_skips", "--rootdir", str(tmp_path), "-c", os.devnull, str(test_file),
         *args],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
    )  # fmt: skip
    return result.stdout


@pytest.mark.parametrize("source", [SAMPLE, MODULE_SKIP])
def test_a_skip_passes_by_default(tmp_path: Path, source: str) -> None:
    out = pytest_run(tmp_path, source)
    assert "1 skipped" in out, out
    assert "failed" not in out, out


@pytest.mark.parametrize("source", [SAMPLE, MODULE_SKIP])
@pytest.mark.parametrize(("flag", "env"), [("--no-skips", ""), ("", "1")])
def test_a_skip_fails_with_no_skips(tmp_path: Path, source: str, flag: str, env: str) -> None:
    out = pytest_run(tmp_path, source, *([flag] if flag else []), no_skips_env=env)
    assert "skipped" not in out.splitlines()[-1], out
    assert "--no-skips is set" in out, out
    assert "pip install it" in out, out  # the reason, naming the install, is kept
