"""``voicectl registry ls|watch|prune``, ``voicectl worker --redis``, and the docs' setup."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from tests.integration.registry.conftest import CHILD_ENV, VOICECTL, RedisServer, free_port
from voicectl.cli.registry import app
from voicectl.registry.base import WorkerRecord

REPO = Path(__file__).parents[3]
REGISTRY_CLI = [sys.executable, "-c", "from voicectl.cli.registry import app; app()"]
runner = CliRunner()


def record(worker_id: str, port: int, **fields: object) -> WorkerRecord:
    return WorkerRecord(
        worker_id=worker_id, host="127.0.0.1", port=port, last_heartbeat=time.time(),
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def populated(redis_server: RedisServer, prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis(port=redis_server.port)
    for rec in (
        record("w1", 50051, gpu=0, models={"mock:sine": "ready"}, active_sessions=2),
        record("w2", 50052, models={"piper:en_US-joe-medium": "loading"}, queue_depth=1),
    ):
        client.set(f"{prefix}:worker:{rec.worker_id}", rec.to_json(), ex=60)
        client.sadd(f"{prefix}:workers", rec.worker_id)
    yield client
    client.close()


def args(redis_server: RedisServer, prefix: str, *extra: str) -> list[str]:
    return [*extra, "--redis", redis_server.url, "--prefix", prefix]


def test_ls_json_and_table(redis_server: RedisServer, prefix: str, populated: redis.Redis) -> None:
    result = runner.invoke(app, args(redis_server, prefix, "ls", "--json"))
    assert result.exit_code == 0, result.output
    workers = json.loads(result.stdout)["workers"]
    assert [(w["worker_id"], w["address"], w["gpu"]) for w in workers] == [
        ("w1", "127.0.0.1:50051", 0),
        ("w2", "127.0.0.1:50052", None),
    ]
    assert workers[0]["active_sessions"] == 2
    assert workers[1]["queue_depth"] == 1
    assert workers[0]["heartbeat_age_seconds"] >= 0

    table = runner.invoke(app, args(redis_server, prefix, "ls"), env={"COLUMNS": "200"})
    assert table.exit_code == 0
    assert "127.0.0.1:50051" in table.stdout
    assert "piper:en_US-joe-medium (loading)" in table.stdout


def test_ls_errors_have_exit_codes(prefix: str) -> None:
    unreachable = runner.invoke(app, ["ls", "--redis", f"redis://127.0.0.1:{free_port()}/0"])
    assert unreachable.exit_code == 3
    assert "redis-server" in unreachable.output
    bad_url = runner.invoke(app, ["ls", "--redis", "http://nowhere/"])
    assert bad_url.exit_code == 2
    assert "bad Redis URL" in bad_url.output


def test_prune_reports_and_removes(
    redis_server: RedisServer, prefix: str, populated: redis.Redis
) -> None:
    populated.set(f"{prefix}:worker:junk", b"not json")
    populated.sadd(f"{prefix}:workers", "junk", "expired")
    dry = runner.invoke(app, args(redis_server, prefix, "prune", "--dry-run", "--json"))
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    assert report["stale"] == ["expired"]
    assert list(report["malformed"]) == [f"{prefix}:worker:junk"]
    assert populated.exists(f"{prefix}:worker:junk")

    done = runner.invoke(app, args(redis_server, prefix, "prune", "--worker", "w2"))
    assert done.exit_code == 0, done.output
    assert "removed 1 expired index entry, 1 malformed entry" in done.stdout
    assert populated.smembers(f"{prefix}:workers") == {b"w1"}

    unknown = runner.invoke(app, args(redis_server, prefix, "prune", "--worker", "nope"))
    assert unknown.exit_code == 4


def test_watch_once_and_ctrl_c(
    redis_server: RedisServer, prefix: str, populated: redis.Redis
) -> None:
    once = runner.invoke(app, args(redis_server, prefix, "watch", "--once", "--json"))
    assert once.exit_code == 0, once.output
    lines = once.stdout.strip().splitlines()
    assert len(lines) == 1
    assert [w["worker_id"] for w in json.loads(lines[0])["workers"]] == ["w1", "w2"]

    proc = subprocess.Popen(
        [*REGISTRY_CLI, *args(redis_server, prefix, "watch", "--interval", "0.1", "--json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CHILD_ENV,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        first = json.loads(proc.stdout.readline())
        assert [w["worker_id"] for w in first["workers"]] == ["w1", "w2"]
        populated.delete(f"{prefix}:worker:w2")  # expiry: seen by the periodic re-list
        while [w["worker_id"] for w in json.loads(proc.stdout.readline())["workers"]] != ["w1"]:
            pass
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_worker_with_unreachable_redis_fails_at_start() -> None:
    port = free_port()
    result = subprocess.run(
        [*VOICECTL, "worker", "--port", "0", "--default-model", "mock:sine",
         "--redis", f"redis://:hunter2@127.0.0.1:{port}/0"],
        capture_output=True, text=True, timeout=60, env=CHILD_ENV, check=False,
    )  # fmt: skip
    assert result.returncode == 3
    assert f"127.0.0.1:{port}" in result.stderr
    assert "hunter2" not in result.stderr
    bad = subprocess.run(
        [*VOICECTL, "worker", "--redis", "http://x", "--gpu", "zero"],
        capture_output=True, text=True, timeout=60, env=CHILD_ENV, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "redis must be a URL" in bad.stderr


def setup_commands() -> list[str]:
    text = (REPO / "docs" / "registry.md").read_text()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", text, re.S)
    assert block is not None, "docs/registry.md lost its quick start block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_docs_quick_start_runs_as_written(tmp_path: Path) -> None:
    """The README/docs two-worker + Redis setup, with ports moved to free ones."""
    ports = {"6379": str(free_port()), "50051": str(free_port()), "50052": str(free_port())}
    procs: list[subprocess.Popen[str]] = []
    output = ""
    try:
        for line in setup_commands():
            for old, new in ports.items():
                line = line.replace(old, new)
            words = shlex.split(line.removesuffix("&").strip())
            if words[:2] == ["uv", "run"]:  # how the docs run voicectl from a checkout
                words = words[2:]
            if words[0] == "redis-server":
                server = RedisServer(int(ports["6379"]))
                assert words[1:] == ["--port", ports["6379"], "--save", "", "--appendonly", "no",
                                     "--daemonize", "yes"]  # fmt: skip
                server.start()  # the same server, kept in the foreground to stop it after
                procs.append(server.proc)  # type: ignore[arg-type]
            elif words[0] == "sleep":
                _wait_registered(ports)
            elif line.endswith("&"):
                assert words[0] == "voicectl"
                # Its log goes to a file: a pipe nobody reads could fill and block it.
                log = (tmp_path / f"{len(procs)}.log").open("w")
                procs.append(subprocess.Popen(
                    [*VOICECTL, *words[1:]], stdout=subprocess.DEVNULL, stderr=log,
                    text=True, env=CHILD_ENV, cwd=tmp_path,
                ))  # fmt: skip
            else:
                assert words[0] == "voicectl"
                result = subprocess.run(
                    [*VOICECTL, *words[1:]], capture_output=True, text=True, timeout=60,
                    env=CHILD_ENV, check=False,
                )  # fmt: skip
                assert result.returncode == 0, result.stderr
                output += result.stdout
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    logs = {p.name: p.read_text()[-3000:] for p in tmp_path.glob("*.log")}
                    raise AssertionError(
                        f"{proc.args} ignored SIGTERM for 60 s; logs: {logs}"
                    ) from None
    assert f"127.0.0.1:{ports['50051']}" in output
    assert f"127.0.0.1:{ports['50052']}" in output


def _wait_registered(ports: dict[str, str]) -> None:
    client = redis.Redis(port=int(ports["6379"]))
    deadline = time.monotonic() + 60
    while client.scard("voicectl:workers") < 2:
        assert time.monotonic() < deadline, "the two workers did not register"
        time.sleep(0.1)
    client.close()


def test_readme_shows_the_same_two_worker_setup() -> None:
    """The README's scale-out block is the one this module runs (docs/registry.md)."""
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    assert "\n".join(setup_commands()) in readme
