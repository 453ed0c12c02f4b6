"""The LiveKit commands as processes, as docs/webrtc.md shows them: ``voicectl token``,
``voicectl orchestrator --livekit`` against a real livekit-server, and ``voicectl talk
--url livekit://`` joining a room as the user."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from tests.e2e.test_cli import ENV, VOICECTL
from tests.e2e.test_cli import worker_process as worker_process  # a mock worker, once
from tests.livekit_server import LiveKitServer

pytestmark = pytest.mark.slow
api = pytest.importorskip("livekit.api", reason="the livekit extra: uv sync --extra livekit")


WITHOUT_LIVEKIT = {k: v for k, v in ENV.items() if not k.startswith("LIVEKIT_")}


def with_credentials(server: LiveKitServer) -> dict[str, str]:
    return {**WITHOUT_LIVEKIT, **server.env}


def run(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VOICECTL, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_token_signs_a_room_grant(livekit: LiveKitServer) -> None:
    env = with_credentials(livekit)
    result = run("token", "--room", "demo", "--identity", "alice", env=env)
    assert result.returncode == 0, result.stderr
    claims = api.TokenVerifier(livekit.api_key, livekit.api_secret).verify(result.stdout.strip())
    assert claims.identity == "alice"
    assert claims.video.room == "demo"
    assert claims.video.room_join
    result = run("token", "--room", "demo", "--identity", "alice", "--json", env=env)
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
) -> Iterator[LiveKitServer]:
    """`voicectl orchestrator --livekit URL --livekit-key K --livekit-secret S`."""
    worker, _ = worker_process
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [*VOICECTL, "orchestrator", "--ws-port", "0", "--worker", worker,
         "--livekit", livekit.url, "--livekit-key", livekit.api_key,
         "--livekit-secret", livekit.api_secret],
        stdout=subprocess.DEVNULL, stderr=log, text=True, env=WITHOUT_LIVEKIT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "registered on" not in _read(log):
            assert proc.poll() is None, f"the orchestrator exited: {_read(log)[-2000:]}"
            assert time.monotonic() < deadline, "the agent never registered"
            time.sleep(0.3)
        yield livekit
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        assert "Traceback" not in _read(log)


def _read(log: tempfile._TemporaryFileWrapper[str]) -> str:
    log.seek(0)
    return log.read()


def test_talk_joins_a_room_and_hears_the_agent(livekit_agent: LiveKitServer) -> None:
    """docs/webrtc.md's line, with this test's server for ws://127.0.0.1:7880."""
    url = livekit_agent.url.replace("ws://", "livekit://") + "/demo"
    result = run("talk", "--url", url, "--text", "hello there", env=with_credentials(livekit_agent))
    assert result.returncode == 0, result.stderr
    assert "agent: You said: hello there" in result.stdout


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
