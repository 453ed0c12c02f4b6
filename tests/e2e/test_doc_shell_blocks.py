"""Every `voicectl` line of the ```bash blocks in README.md and docs/*.md runs here, or
says which test runs it, or why it cannot run on a machine without audio devices.

Services (`worker`, `orchestrator`) start on free ports, are checked for readiness and
stop with SIGTERM (exit 0). The other commands run against a worker and an orchestrator
started here: `127.0.0.1:50051` and `ws://127.0.0.1:8765` are rewritten to their ports,
every `--port`, `--ws-port` and `--metrics-port` to a free one.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_cli import ENV, free_port, run, wait_for_port
from voicectl.audio.decode import decode_audio_file
from voicectl.audio.wav import write_wav

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"```bash\n(.*?)```", re.S)
SHARED = REPO.parent / "shared"
LIVE = "the live microphone mode needs a microphone and a speaker; "
NOT_RUN = {
    "voicectl talk": LIVE + "tests/integration/test_talk_live.py runs it on virtual devices",
    "voicectl talk --input-device 3 --output-device 5 --rate 48000": LIVE + "device indices "
    "are this machine's own",
    "voicectl profile pyspy --pid \"$(pgrep -f 'voicectl worker')\" --duration 10 --output "
    "worker.svg": "finds a worker with pgrep; tests/e2e/test_profile.py attaches to one by pid",
    "voicectl bench soak --sessions 8 --minutes 10": "runs 10 minutes (docs/benchmarks.md "
    "records its figures); tests/e2e/test_bench_soak.py runs a 20 s soak",
}
# Commands run as written by another test module (it reads them from the docs, or runs
# the same arguments from the repository root).
ELSEWHERE = {
    "voicectl bench turns": "tests/e2e/test_bench_suite.py",
    "voicectl bench e2e": "tests/e2e/test_bench_suite.py",
    "voicectl bench soak --sessions 2": "tests/e2e/test_bench_soak.py",
    "voicectl registry ls": "tests/integration/registry/test_registry_cli.py",
    "voicectl talk --url http://": "tests/e2e/test_webrtc_cli.py",
    # A LiveKit server (tests/livekit_server.py) and its credentials: run there.
    "voicectl orchestrator --livekit": "tests/e2e/test_livekit_cli.py",
    "voicectl talk --url livekit://": "tests/e2e/test_livekit_cli.py",
    "voicectl token --orchestrator": "tests/integration/test_orchestrator_tokens.py",
    "voicectl token": "tests/e2e/test_livekit_cli.py",
    "voicectl worker --port 5005[12] --redis": "tests/integration/registry/test_registry_cli.py",
    # Sesame CSM (docs/adapters.md): on the tiny checkpoint the tests build.
    "voicectl worker --port 50051 --voicepacks voicepacks --lora-path": "tests/e2e/test_csm_cli.py",
    "voicectl models load csm:": "tests/e2e/test_csm_cli.py",
    'voicectl say "Hello from Sesame."': "tests/e2e/test_csm_cli.py",
    "voicectl models ps --worker 127.0.0.1:50051 --json": "tests/e2e/test_csm_cli.py",
    "voicectl bench gpu": "tests/e2e/test_csm_cli.py",
    # XTTS-v2's cloned voices (docs/adapters.md): on the tiny checkpoint the tests build.
    "voicectl voices": "tests/e2e/test_voices_cli.py",
    'voicectl say "Hello, this is my cloned voice."': "tests/e2e/test_voices_cli.py",
}
# Lines that need an optional extra: skipped without it (CI installs every one).
NEEDS = {
    "voicectl talk --list-devices": ("sounddevice", "uv sync --extra audio"),
    "voicectl profile torch": ("torch", "uv sync --extra csm"),
}
SERVICES = ("worker", "orchestrator")
PORT_FLAGS = ("--port", "--ws-port", "--metrics-port")


def shell_lines() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for block in BLOCK.findall(doc.read_text()):
            for line in block.splitlines():
                command = re.sub(r"\s+#.*$", "", line).strip().removeprefix("uv run ").strip()
                command = command.removesuffix("&").strip()
                if command.startswith("voicectl"):
                    found.append((doc.name, command))
    return found


LINES = shell_lines()


def elsewhere(command: str) -> str | None:
    return next((test for start, test in ELSEWHERE.items() if re.match(start, command)), None)


def test_every_line_is_run_or_says_why_not() -> None:
    assert len(LINES) >= 20
    for reason_holder in (NOT_RUN, ELSEWHERE):
        for key in reason_holder:  # no stale entry: each one still names a doc line
            pattern = re.escape(key) if reason_holder is NOT_RUN else key
            assert any(re.match(pattern, cmd) for _, cmd in LINES), key


@pytest.mark.parametrize("command", sorted({c for _, c in LINES if elsewhere(c)}))
def test_a_line_run_elsewhere_is_in_that_test(command: str) -> None:
    test_module = (REPO / str(elsewhere(command))).read_text()
    readme_block = "README.md" in test_module and "```bash" in test_module
    # Its flags and paths; a long value such as the reference text may be split there.
    arguments = [a for a in shlex.split(command)[1:] if a.startswith("--") or "/" in a]
    assert readme_block or all(f'"{arg}"' in test_module for arg in arguments), command


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout's layout: configs/ and voicepacks/ here, ../shared beside it, user.wav."""
    root = tmp_path_factory.mktemp("doc-shell")
    checkout = root / "voicectl"
    checkout.mkdir()
    for name in ("configs", "voicepacks"):
        (checkout / name).symlink_to(REPO / name)
    (root / "shared").symlink_to(SHARED)
    speech = decode_audio_file(SHARED / "audio" / "jfk.flac", sample_rate=16000)
    write_wav(checkout / "user.wav", speech[: 16000 * 4], 16000)  # "And so, my fellow Americans"
    return checkout


def wait_for_tcp(port: int, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited early: {proc.stderr.read() if proc.stderr else ''}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listened on {port} within {timeout:g} s")


def rewrite(args: list[str], worker: int, orchestrator: int | None) -> tuple[list[str], int]:
    """Free ports for the port flags (the first is returned), the services' addresses."""
    out: list[str] = []
    own = 0
    for i, arg in enumerate(args):
        if i and args[i - 1] in PORT_FLAGS:
            port = free_port()
            own = own or port
            arg = str(port)
        if i and args[i - 1] == "--web":  # HOST:PORT of the page
            arg = f"127.0.0.1:{free_port()}"
        arg = arg.replace("127.0.0.1:50051", f"127.0.0.1:{worker}")
        if orchestrator is not None:
            arg = arg.replace("ws://127.0.0.1:8765", f"ws://127.0.0.1:{orchestrator}")
        out.append(arg)
    return out, own


def start(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "voicectl", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env,
    )  # fmt: skip


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture(scope="module")
def services(workdir: Path) -> Iterator[tuple[int, int]]:
    """A mock worker, and an orchestrator in front of it: what the client lines talk to."""
    worker_port, ws_port = free_port(), free_port()
    worker = start(["worker", "--port", str(worker_port), "--default-model", "mock:sine"],
                   workdir, ENV)  # fmt: skip
    orchestrator = None
    try:
        wait_for_port(worker_port, worker)
        orchestrator = start(["orchestrator", "--ws-port", str(ws_port), "--worker",
                              f"127.0.0.1:{worker_port}"], workdir, ENV)  # fmt: skip
        wait_for_tcp(ws_port, orchestrator)
        yield worker_port, ws_port
    finally:
        for proc in (orchestrator, worker):
            if proc is not None:
                stop(proc)


RUN_HERE = sorted({c for _, c in LINES if c not in NOT_RUN and not elsewhere(c)})


@pytest.mark.parametrize("command", RUN_HERE)
def test_doc_shell_line_runs(command: str, services: tuple[int, int], workdir: Path) -> None:
    for start_of_line, (module, install) in NEEDS.items():
        if command.startswith(start_of_line) and importlib.util.find_spec(module) is None:
            pytest.skip(f"needs {module} (CI installs it): {install}")
    worker, orchestrator = services
    args, own_port = rewrite(shlex.split(command)[1:], worker, orchestrator)
    if args[0] in SERVICES:
        # A service's port the line leaves to its config: VOICECTL_* moves it.
        own_port = own_port or free_port()
        variable = "VOICECTL_PORT" if args[0] == "worker" else "VOICECTL_WS_PORT"
        proc = start(args, workdir, {**ENV, variable: str(own_port)})
        if args[0] == "worker":
            wait_for_port(own_port, proc)
        else:
            wait_for_tcp(own_port, proc)
        assert stop(proc) == 0, command
        return
    result = run(*args, timeout=600, cwd=workdir)
    assert result.returncode == 0, f"{command}\n{result.stderr}"
