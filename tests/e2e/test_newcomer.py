"""What a newcomer hits first: fast, one-line failures with exit codes, quiet stderr, and
whole lines when the output goes to a pipe."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_cli import ENV, VOICECTL, free_port, run, worker_process  # noqa: F401

pytestmark = pytest.mark.slow

# What the gRPC C core prints on its own: "I1201 20:48:31.43 23984 chttp2_transport.cc:1403]".
GRPC_CORE_LINE = re.compile(r"^[IWE]\d{4} .*\.cc:\d+\]", re.M)


def unreachable_commands(target: str, tmp_path: Path) -> list[list[str]]:
    return [
        ["models", "ls", "--worker", target],
        ["models", "load", "mock:sine", "--worker", target],
        ["models", "unload", "mock:sine", "--worker", target],
        ["say", "Hello.", "--out", str(tmp_path / "x.wav"), "--worker", target],
        ["bench", "fal", "--worker", target, "--runs", "1"],
        ["bench", "e2e", "--worker", target, "--runs", "1"],
        ["talk", "--text", "hi", "--worker", target],
    ]


def test_a_refused_worker_fails_at_once_with_exit_3(tmp_path: Path) -> None:
    target = f"127.0.0.1:{free_port()}"  # nothing listens there
    for command in unreachable_commands(target, tmp_path):
        started = time.monotonic()
        result = run(*command, "--connect-timeout", "60")  # every command that connects
        took = time.monotonic() - started
        assert result.returncode == 3, (command, result.stderr)
        assert f"no worker listening on {target}" in result.stderr, command
        assert "Traceback" not in result.stderr
        assert took < 30, f"{command} waited out its --connect-timeout ({took:.1f} s)"


@pytest.mark.parametrize(
    "command", [["talk", "--text", "hi"], ["bench", "e2e", "--runs", "1"], ["bench", "asr"]]
)
def test_a_refused_orchestrator_fails_at_once_with_exit_3(command: list[str]) -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = run(*command, "--url", url, "--connect-timeout", "60")
    assert result.returncode == 3, result.stderr
    assert f"no orchestrator listening on 127.0.0.1:{url.rsplit(':', 1)[1]}" in result.stderr
    assert time.monotonic() - started < 30


def test_an_orchestrator_that_never_answers_times_out_at_connect_timeout() -> None:
    """The port accepts (the kernel's backlog) but no WebSocket handshake ever comes."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = run("talk", "--url", f"ws://127.0.0.1:{port}", "--text", "hi",
                     "--connect-timeout", "1")  # fmt: skip
        took = time.monotonic() - started
    assert result.returncode == 3, result.stderr
    assert "did not answer the WebSocket handshake within 1 s" in result.stderr
    assert took < 15, took


@pytest.mark.parametrize("target", ["localhost", "127.0.0.1:", "127.0.0.1:99999", ":50051"])
def test_a_worker_without_a_port_is_a_usage_error(target: str) -> None:
    result = run("models", "ls", "--worker", target)
    assert result.returncode == 2, result.stderr
    assert "--worker" in result.stderr
    assert "HOST:PORT" in result.stderr


@pytest.mark.parametrize(  # http:// is the --web endpoint's (WebRTC): test_webrtc_cli.py
    "url", ["ftp://127.0.0.1:8765", "127.0.0.1:8765", "ws://127.0.0.1", "http://127.0.0.1"]
)
def test_a_bad_orchestrator_url_is_a_usage_error(url: str) -> None:
    result = run("talk", "--url", url, "--text", "hi")
    assert result.returncode == 2, result.stderr
    assert "--url" in result.stderr
    assert "ws://HOST:PORT" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["say", "Hello.", "--out", "x.wav", "--rate", "-1"], "--rate"),
        (["say", "Hello.", "--out", "x.wav", "--rate", "12345"], "--rate"),
        (["models", "ls", "--connect-timeout", "0"], "--connect-timeout"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(args: list[str], flag: str, tmp_path: Path) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert flag in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_grpc_core_lines_stay_off_stderr() -> None:
    quiet = run("talk", "--text", "hello there", "--json", timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert not GRPC_CORE_LINE.search(quiet.stderr), quiet.stderr


def test_piped_output_has_whole_lines(worker_process: tuple[str, object]) -> None:  # noqa: F811
    target, _ = worker_process
    env = {key: value for key, value in ENV.items() if key != "COLUMNS"}
    listed = subprocess.run(
        [*VOICECTL, "models", "ls", "--worker", target],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "piper:en_US-joe-medium" in listed.stdout, listed.stdout
    assert "…" not in listed.stdout, "a column was cut"
    bad = subprocess.run(
        [*VOICECTL, "talk", "--url", "ftp://127.0.0.1:8765/some/long/path", "--text", "hi"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1, "the error was wrapped"
    assert bad.stderr.startswith("error:")


def test_models_ps_shows_only_resident_models_and_when_they_leave(
    worker_process: tuple[str, object],  # noqa: F811
) -> None:
    target, _ = worker_process
    ps = run("models", "ps", "--worker", target, "--json")
    assert ps.returncode == 0, ps.stderr
    models = {m["model_id"]: m for m in json.loads(ps.stdout)["models"]}
    assert "mock:sine" in models  # the worker's pinned default
    assert models["mock:sine"]["until"] == "never (pinned)"
    assert "piper:en_US-joe-medium" not in models, "not loaded on this worker"
    listed = run("models", "ls", "--worker", target, "--loaded", "--json")
    assert {m["model_id"] for m in json.loads(listed.stdout)["models"]} == set(models)
    table = run("models", "ps", "--worker", target)
    assert "never (pinned)" in table.stdout


def test_shell_completion_script_and_output_flag_name(tmp_path: Path) -> None:
    completion = run("--show-completion", "bash")
    assert completion.returncode == 0, completion.stderr
    assert "_voicectl_completion" in completion.stdout
    # One name for "the file to write" across commands: --output/-o (--out still works).
    wav = tmp_path / "hi.wav"
    said = run("say", "Hi there.", "--model", "mock:sine", "--output", str(wav))
    assert said.returncode == 0, said.stderr
    assert wav.stat().st_size > 44
