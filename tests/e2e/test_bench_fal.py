"""``voicectl bench fal`` as a user runs it: a subprocess with an embedded worker.

Only the report's shape and internal consistency are checked, never wall-clock
thresholds: the numbers themselves belong in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.e2e.bench_fields import documented_fields

VOICECTL = [sys.executable, "-m", "voicectl"]
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VOICECTL, "bench", "fal", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
        check=False,
    )


def check_report(report: dict[str, object], *, model_id: str, runs: int) -> None:
    assert report["bench"] == "fal"
    assert set(report) == documented_fields("fal"), "docs/benchmarks.md lists these fields"
    assert report["model_id"] == model_id
    assert report["worker"] == "embedded"
    assert report["runs"] == runs
    assert report["concurrency"] == 1
    assert report["target_p95_ms"] == 100
    assert isinstance(report["meets_target"], bool)
    assert isinstance(report["sample_rate"], int)
    assert report["sample_rate"] > 0
    assert isinstance(report["audio_seconds_mean"], float)
    assert report["audio_seconds_mean"] > 0
    for key in ("first_audio_ms", "rtf"):
        stats = report[key]
        assert isinstance(stats, dict)
        assert set(stats) == {"min", "p50", "p95", "max", "mean"}
        assert all(isinstance(v, int | float) and v > 0 for v in stats.values()), stats
        assert stats["min"] <= stats["p50"] <= stats["p95"] <= stats["max"], stats
        assert stats["min"] <= stats["mean"] <= stats["max"], stats
    machine = report["machine"]
    assert isinstance(machine, dict)
    assert set(machine) == {"cpu_count", "platform", "python"}
    assert machine["cpu_count"] >= 1


@pytest.mark.parametrize(
    ("model_id", "runs", "warmup"),
    [("mock:sine", 5, 1), ("piper:en_US-joe-medium", 3, 1)],
)
def test_fal_json_report(model_id: str, runs: int, warmup: int) -> None:
    result = bench("--model", model_id, "--runs", str(runs), "--warmup", str(warmup), "--json")
    assert result.returncode == 0, result.stderr
    check_report(json.loads(result.stdout), model_id=model_id, runs=runs)


def test_fal_table_output() -> None:
    result = bench("--model", "mock:sine", "--runs", "2", "--warmup", "0", "--concurrency", "2")
    assert result.returncode == 0, result.stderr
    assert "mock:sine" in result.stdout
    assert "p95 < 100 ms" in result.stdout


def test_unknown_model_exits_not_found() -> None:
    result = bench("--model", "nope:missing", "--runs", "1", "--json")
    assert result.returncode == 4, result.stderr
    assert "nope:missing" in result.stderr
    assert result.stdout == ""


def test_unreachable_worker_exits_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the bench connects
    result = bench("--worker", f"127.0.0.1:{port}", "--connect-timeout", "1", "--json")
    assert result.returncode == 3, result.stderr
    assert "no worker listening on" in result.stderr


def test_bad_flags_exit_usage() -> None:
    assert bench("--runs", "0").returncode == 2
    assert bench("--text", "   ").returncode == 2
