"""`voicectl orchestrator --web` as a process, and `voicectl talk --url http://…` talking to
it over WebRTC, as docs/webrtc.md shows."""

from __future__ import annotations

import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.e2e.test_cli import ENV, VOICECTL, free_port, run
from tests.e2e.test_cli import worker_process as worker_process  # a mock worker, once

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def web_orchestrator(worker_process: tuple[str, subprocess.Popen[str]]) -> Iterator[str]:
    worker, _ = worker_process
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [*VOICECTL, "orchestrator", "--ws-port", "0", "--web", f"127.0.0.1:{port}",
         "--worker", worker],
        stdout=subprocess.DEVNULL, stderr=log, text=True, env=ENV,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "the orchestrator exited early"
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                    if response.read() == b"ok\n":
                        break
            except OSError:
                assert time.monotonic() < deadline, "the page was never served"
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        log.seek(0)
        assert "Traceback" not in log.read()


def test_talk_over_webrtc(web_orchestrator: str) -> None:
    """docs/webrtc.md's line, with this test's port for its "http://127.0.0.1:8080"."""
    result = run("talk", "--url", web_orchestrator, "--text", "hello there")
    assert result.returncode == 0, result.stderr
    assert "agent: You said: hello there" in result.stdout


def test_a_refused_offer_exits_5_and_says_why(web_orchestrator: str) -> None:
    result = run("talk", "--url", web_orchestrator + "/elsewhere", "--text", "hi")
    assert result.returncode == 5, result.stderr
    assert "HTTP 404" in result.stderr
    assert "Traceback" not in result.stderr


def test_nothing_listening_exits_3() -> None:
    result = run("talk", "--url", f"http://127.0.0.1:{free_port()}", "--text", "hi")
    assert result.returncode == 3
    assert "no orchestrator listening" in result.stderr
