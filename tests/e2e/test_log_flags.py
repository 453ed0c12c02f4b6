"""-q / -v beside --log-level, and log lines as JSON when stderr is not a terminal."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from tests.e2e.test_cli import ENV, VOICECTL, free_port, run, wait_for_port
from voicectl.observability.logging import resolve_format


def serve(*flags: str) -> tuple[str, str]:
    """A mock worker run with ``flags`` until ready, stopped with SIGTERM: its stderr."""
    port = free_port()
    proc = subprocess.Popen(
        [*VOICECTL, "worker", "--port", str(port), "--default-model", "mock:sine", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    try:
        wait_for_port(port, proc)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    return stdout, stderr


def levels(stderr: str) -> set[str]:
    return {json.loads(line)["level"] for line in stderr.splitlines() if line.strip()}


def test_piped_logs_are_json_lines_and_v_adds_debug() -> None:
    assert resolve_format("auto") == "json"  # pytest's stderr is captured, not a terminal
    _, plain = serve()
    assert "info" in levels(plain)  # every line parses as JSON, else json.loads raised
    assert "debug" not in levels(plain)
    _, verbose = serve("-v")
    debug = [json.loads(line) for line in verbose.splitlines() if '"debug"' in line]
    configuration = next(line["message"] for line in debug if "configuration" in line["message"])
    assert '"max_loaded": 3' in configuration


def test_q_keeps_only_errors() -> None:
    _, quiet = serve("-q")
    assert levels(quiet) <= {"error"}, quiet


def test_console_lines_on_request() -> None:
    _, console = serve("--log-format", "console")
    assert "listening" in console
    with pytest.raises(json.JSONDecodeError):
        levels(console)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["worker", "--log-level", "loud"], "--log-level must be one of debug, info, warning"),
        (["worker", "-q", "-v"], "-q/--quiet and -v/--verbose contradict each other"),
        (["orchestrator", "--log-format", "xml"], "--log-format must be one of auto, json"),
        (["say", "Hi.", "-o", "x.wav", "--log-level", "chatty"], "--log-level must be one of"),
    ],
)
def test_bad_log_flags_exit_2_naming_the_flag(args: list[str], words: str) -> None:
    result = run(*args, timeout=60)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_a_worker_open_to_the_network_without_a_token_says_so() -> None:
    _, exposed = serve("--host", "0.0.0.0")
    assert "without a token" in exposed
    assert "docs/security.md" in exposed
    _, local = serve()
    assert "without a token" not in local
