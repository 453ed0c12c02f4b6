"""The CLI as a user runs it: real subprocesses, a real worker process, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

VOICECTL = [sys.executable, "-m", "voicectl"]
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


def run(
    *args: str, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VOICECTL, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        cwd=cwd,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"worker exited early: {proc.stderr.read() if proc.stderr else ''}"
            )
        result = run("models", "ls", "--worker", f"127.0.0.1:{port}", "--json", timeout=30)
        if result.returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError("worker did not become ready")


@pytest.fixture(scope="module")
def worker_process() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    # Logs go to a file: a pipe nobody reads would fill up and block the worker.
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the worker
    proc = subprocess.Popen(
        [*VOICECTL, "worker", "--port", str(port), "--default-model", "mock:sine"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
        env=ENV,
    )
    try:
        wait_for_port(port, proc)
        yield f"127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wav_info(path: Path) -> tuple[int, float]:
    with wave.open(str(path)) as wav:
        return wav.getframerate(), wav.getnframes() / wav.getframerate()


def test_help_lists_commands_and_every_command_has_an_example() -> None:
    result = run("--help")
    assert result.returncode == 0
    commands = ["worker", "say", "orchestrator", "talk", "models", "bench", "registry"]
    for command in commands:
        assert command in result.stdout
    for command in [*commands, "models ls", "models load", "models unload"]:
        sub = run(*command.split(), "--help")
        assert sub.returncode == 0, sub.stderr
        assert "Example" in sub.stdout, command


def test_say_embedded_writes_a_wav(tmp_path: Path) -> None:
    out = tmp_path / "hello.wav"
    result = run("say", "Hello from voicectl.", "--model", "mock:sine", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    rate, seconds = wav_info(out)
    assert rate == summary["sample_rate"] == 24000
    assert seconds == pytest.approx(summary["seconds"], abs=0.001)
    assert seconds > 1.0


def test_say_through_a_running_worker(
    worker_process: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    address, _ = worker_process
    out = tmp_path / "remote.wav"
    result = run("say", "Over the wire.", "--worker", address, "--rate", "16000", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert wav_info(out)[0] == 16000


def test_exit_codes_for_scripts(
    worker_process: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    address, _ = worker_process
    out = str(tmp_path / "x.wav")
    unknown = run("say", "hi", "--worker", address, "--model", "nope:none", "--out", out)
    assert unknown.returncode == 4
    assert "mock:sine" in unknown.stderr
    bad_rate = run("say", "hi", "--worker", address, "--rate", "12345", "--out", out)
    assert bad_rate.returncode == 2, "a bad flag is a usage error, found before connecting"
    assert "48000" in bad_rate.stderr
    unreachable = run(
        "say", "hi", "--worker", f"127.0.0.1:{free_port()}", "--out", out, "--connect-timeout", "1"
    )
    assert unreachable.returncode == 3
    assert "no worker listening on" in unreachable.stderr


def test_worker_bad_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text("worker:\n  max_loaded: many\n")
    result = run("worker", "--config", str(config))
    assert result.returncode == 2
    assert "max_loaded" in result.stderr


def test_worker_drains_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    # A slow mock (rtf 0.2 via the environment): ~19 s of audio takes ~4 s to generate.
    env = {**ENV, "VOICECTL_MOCK_RTF": "0.2", "VOICECTL_DRAIN_SECONDS": "30"}
    proc = subprocess.Popen(
        [*VOICECTL, "worker", "--port", str(port), "--default-model", "mock:sine"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_for_port(port, proc)
        out = tmp_path / "long.wav"
        say = subprocess.Popen(
            [*VOICECTL, "say", "word " * 60, "--worker", f"127.0.0.1:{port}", "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the stream holds the model
            listed = json.loads(
                run("models", "ls", "--worker", f"127.0.0.1:{port}", "--json").stdout
            )
            if any(m["refcount"] for m in listed["models"]):
                break
        proc.send_signal(signal.SIGTERM)
        assert say.wait(timeout=60) == 0, say.stderr.read() if say.stderr else ""
        assert proc.wait(timeout=30) == 0
        stderr = proc.stderr.read() if proc.stderr else ""
        assert "listening on 127.0.0.1:" in stderr
        assert "shutdown requested" in stderr
        assert wav_info(out)[1] > 10.0
    finally:
        if proc.poll() is None:
            proc.kill()
