"""Every `voicectl` example in README.md and docs/*.md runs and exits 0.

Examples are the `$ ...` lines of ```console blocks. Examples that talk to
127.0.0.1:50051 run against a real worker started here on a free port (the port
is rewritten); `voicectl worker` examples are started, checked for readiness and
stopped with SIGTERM. `uv run pytest` is the test command itself and is what CI runs.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_cli import ENV, free_port, run, wait_for_port

REPO = Path(__file__).parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for block in BLOCK.findall(doc.read_text()):
            for line in block.splitlines():
                if line.startswith("$ "):
                    command = line[2:].strip().removeprefix("uv run ").strip()
                    if command.startswith("voicectl "):
                        found.append((doc.name, command))
    return found


EXAMPLES = examples()


def test_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 8
    assert any(cmd.startswith("voicectl say") for _, cmd in EXAMPLES)


@pytest.fixture(scope="module")
def docs_worker() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicectl", "worker", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=ENV,
    )
    try:
        wait_for_port(port, proc)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for name in ("configs", "voicepacks"):
        (tmp_path / name).symlink_to(REPO / name)
    return tmp_path


def run_service(args: list[str], cwd: Path) -> None:
    port = free_port()
    args = [a.replace("50051", str(port)) for a in args]
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicectl", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**ENV, "VOICECTL_PORT": str(port)},
    )
    try:
        wait_for_port(port, proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(("doc", "command"), EXAMPLES, ids=[c for _, c in EXAMPLES])
def test_doc_example_runs(doc: str, command: str, docs_worker: int, workdir: Path) -> None:
    if "--peer wyoming" in command and importlib.util.find_spec("wyoming_piper") is None:
        pytest.skip("needs wyoming-piper (CI installs it): uv sync --extra peer")
    args = shlex.split(command)[1:]
    if args[0] == "worker":
        run_service(args, workdir)
        return
    args = [a.replace("127.0.0.1:50051", f"127.0.0.1:{docs_worker}") for a in args]
    result = run(*args, timeout=600, cwd=workdir)
    assert result.returncode == 0, f"{doc}: {command}\n{result.stderr}"


def test_readme_python_example_runs(docs_worker: int) -> None:
    readme = (REPO / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S)
    assert code is not None
    source = code.group(1).replace("127.0.0.1:50051", f"127.0.0.1:{docs_worker}")
    result = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=120, env=ENV,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "frames of 20 ms at 16000 Hz" in result.stdout
