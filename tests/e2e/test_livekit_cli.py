"""The LiveKit commands as processes, as docs/webrtc.md shows them: ``voicectl token``,
``voicectl orchestrator --livekit`` against a real livekit-server, and ``voicectl talk
--url livekit://`` joining a room as the user."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.e2e.test_cli import ENV, VOICECTL, free_port
from tests.e2e.test_cli import worker_process as worker_process  # a mock worker, once
from tests.livekit_server import LiveKitServer

pytestmark = pytest.mark.slow
api = pytest.importorskip("livekit.api", reason="the livekit extra: uv sync --extra livekit")


WITHOUT_LIVEKIT = {k: v for k, v in ENV.items() if not k.startswith("LIVEKIT_")}


DOC_SERVER = "ws://127.0.0.1:7880"  # docs/webrtc.md's server, rewritten to the test's


def with_credentials(server: LiveKitServer) -> dict[str, str]:
    return {**WITHOUT_LIVEKIT, **server.env}


def on(server: LiveKitServer, *args: str) -> list[str]:
    """A command of docs/webrtc.md with this test's server for ws://127.0.0.1:7880."""
    port = server.url.rsplit(":", 1)[1]
    return [a.replace("127.0.0.1:7880", f"127.0.0.1:{port}") for a in args]


def run(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VOICECTL, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_token_signs_a_room_grant(livekit: LiveKitServer) -> None:
    env = with_credentials(livekit)
    result = run("token", "--room", "demo", "--identity", "alice", env=env)  # as docs/cli.md
    assert result.returncode == 0, result.stderr
    claims = api.TokenVerifier(livekit.api_key, livekit.api_secret).verify(result.stdout.strip())
    assert claims.identity == "alice"
    assert claims.video.room == "demo"
    assert claims.video.room_join
    doc_line = ["token", "--room", "demo", "--identity", "alice", "--url", DOC_SERVER, "--json"]
    result = run(*on(livekit, *doc_line), env={**env, "LIVEKIT_URL": "ws://elsewhere:1"})
    assert result.returncode == 0, result.stderr
    details = json.loads(result.stdout)
    assert details["serverUrl"] == livekit.url
    assert (details["roomName"], details["participantName"]) == ("demo", "alice")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--room", "a b", "--identity", "alice"], "room must be"),
        (["--room", "demo", "--identity", "alice", "--ttl", "1"], "ttl must be"),
    ],
)
def test_token_names_what_is_wrong(livekit: LiveKitServer, args: list[str], says: str) -> None:
    result = run("token", *args, env=with_credentials(livekit))
    assert result.returncode == 2
    assert says in result.stderr


def test_token_without_a_secret_says_where_to_put_it() -> None:
    result = run("token", "--room", "demo", "--identity", "alice", env=WITHOUT_LIVEKIT)
    assert result.returncode == 2
    assert "LIVEKIT_API_KEY" in result.stderr


@pytest.fixture(scope="module")
def livekit_agent(
    worker_process: tuple[str, subprocess.Popen[str]], livekit: LiveKitServer
) -> Iterator[tuple[LiveKitServer, str]]:
    """docs/webrtc.md's `voicectl orchestrator --livekit ... --web 127.0.0.1:8080`, on this
    test's server and a free port, in front of a mock worker."""
    worker, _ = worker_process
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the process
    doc_line = on(livekit, "orchestrator", "--livekit", DOC_SERVER, "--livekit-key", "devkey",
                  "--livekit-secret", "devsecret-loopback-only-change-me-0123",
                  "--web", "127.0.0.1:8080")  # fmt: skip
    doc_line[-1] = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [*VOICECTL, *doc_line, "--ws-port", "0", "--worker", worker],
        stdout=subprocess.DEVNULL, stderr=log, text=True, env=WITHOUT_LIVEKIT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "registered on" not in _read(log):
            assert proc.poll() is None, f"the orchestrator exited: {_read(log)[-2000:]}"
            assert time.monotonic() < deadline, "the agent never registered"
            time.sleep(0.3)
        yield livekit, doc_line[-1]
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        assert "Traceback" not in _read(log)


def _read(log: tempfile._TemporaryFileWrapper[str]) -> str:
    log.seek(0)
    return log.read()


def test_talk_joins_a_room_and_hears_the_agent(livekit_agent: tuple[LiveKitServer, str]) -> None:
    """docs/webrtc.md's line, with this test's server for ws://127.0.0.1:7880."""
    server, _ = livekit_agent
    doc_line = ["talk", "--url", "livekit://127.0.0.1:7880/demo", "--text", "hello there"]
    result = run(*on(server, *doc_line), env=with_credentials(server))
    assert result.returncode == 0, result.stderr
    assert "agent: You said: hello there" in result.stdout


def test_the_process_serves_the_livekit_page_and_connection_details(
    livekit_agent: tuple[LiveKitServer, str],
) -> None:
    server, web = livekit_agent
    with urllib.request.urlopen(f"http://{web}/livekit", timeout=10) as answer:
        assert "livekit.js" in answer.read().decode()
    request = urllib.request.Request(f"http://{web}/api/connection-details", data=b"{}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        details = json.loads(answer.read())
    assert details["serverUrl"] == server.url
    claims = api.TokenVerifier(server.api_key, server.api_secret).verify(
        details["participantToken"]
    )
    assert claims.video.room == details["roomName"]


def test_talk_without_credentials_says_where_to_put_them(livekit: LiveKitServer) -> None:
    url = livekit.url.replace("ws://", "livekit://") + "/demo"
    result = run("talk", "--url", url, "--text", "hi", env=WITHOUT_LIVEKIT)
    assert result.returncode == 2, result.stderr
    assert "LIVEKIT_API_KEY" in result.stderr


def test_a_wrong_secret_stops_the_orchestrator_with_exit_3(livekit: LiveKitServer) -> None:
    result = run(
        "orchestrator", "--ws-port", "0", "--worker", "127.0.0.1:1", "--livekit", livekit.url,
        "--livekit-key", livekit.api_key, "--livekit-secret", "wrong-secret-wrong-secret-wrong",
        env=WITHOUT_LIVEKIT,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "refused the agent (HTTP 401)" in result.stderr


def test_livekit_without_a_secret_is_a_usage_error(livekit: LiveKitServer) -> None:
    result = run(
        "orchestrator", "--ws-port", "0", "--livekit", livekit.url, "--livekit-key", "devkey",
        "--worker", "127.0.0.1:1", env=WITHOUT_LIVEKIT,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "api secret must be given" in result.stderr
    assert "LIVEKIT_API_SECRET" in result.stderr


def test_benches_over_livekit(livekit: LiveKitServer) -> None:
    """`bench e2e|bargein --transport livekit`: the embedded orchestrator is the agent of
    the server LIVEKIT_URL names; each run's client opens a room of its own."""
    env = with_credentials(livekit)
    for name, args in (
        ("e2e", ["--runs", "1"]),
        ("bargein", ["--runs", "2", "--model", "mock:sine"]),
    ):
        result = run("bench", name, *args, "--transport", "livekit", "--json", env=env, timeout=600)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["bench"] == name
        for key in ("voice_to_voice_ms",) if name == "e2e" else ("server_ms", "client_ms"):
            summary = report[key]
            assert 0 < summary["min"] <= summary["p50"] <= summary["max"], report


def test_bench_over_livekit_needs_the_server() -> None:
    result = run("bench", "e2e", "--transport", "livekit", env=WITHOUT_LIVEKIT)
    assert result.returncode == 2
    assert "LIVEKIT_URL" in result.stderr
