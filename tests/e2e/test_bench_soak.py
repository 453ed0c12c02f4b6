"""`voicectl bench soak` as a user runs it: a worker process and an orchestrator process
of its own, real conversations with Piper replies, a JSON report and its exit code."""

from __future__ import annotations

import json

import pytest

from tests.e2e.bench_fields import documented_fields
from tests.e2e.test_cli import free_port, run

pytestmark = pytest.mark.slow
PROCESSES = ("worker", "orchestrator")


def test_a_short_soak_samples_both_processes_and_ends_clean() -> None:
    """No warm-up and a 0 % margin, so the verdict is judged on whatever the run measured:
    a process is named in the failures exactly when its RSS grew, and the exit code is 1
    exactly when anything failed."""
    result = run("bench", "soak", "--sessions", "2", "--seconds", "20", "--json",
                 "--warmup-pct", "0", "--max-growth-pct", "0", timeout=300)  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["bench"] == "soak"
    assert set(report) == documented_fields("soak"), "docs/benchmarks.md lists these fields"
    assert (report["sessions"], report["seconds"], report["warmup_s"]) == (2, 20.0, 0.0)
    assert report["worker"] == "process"
    assert report["model_id"] == "piper:en_US-joe-medium"

    processes = report["processes"]
    assert set(processes) == set(PROCESSES)
    assert processes["worker"]["pid"] != processes["orchestrator"]["pid"]
    for name in PROCESSES:
        entry = processes[name]
        times = [t for t, _ in entry["series"]]
        assert entry["samples"] == entry["measured_samples"] == len(times) >= 10, name
        assert times == sorted(times)
        assert times[-1] >= 20.0  # sampled until the last conversation ended
        assert all(mib > 50 for _, mib in entry["series"])  # a process with its models
        assert entry["peak_mib"] == max(mib for _, mib in entry["series"])
        assert entry["growth_mib"] == pytest.approx(entry["end_mib"] - entry["start_mib"],
                                                    abs=0.1)  # fmt: skip

    # Both kinds of turn ran, none failed, and with every session closed nothing is held.
    assert report["turns"] >= 3
    assert 1 <= report["spoken_turns"] < report["turns"]
    assert report["failed_turns"] == 0, report["last_error"]
    assert report["conversations"] >= 2
    assert report["end_state"] == {
        "refcounts": {"piper:en_US-joe-medium": 0},
        "voicectl_worker_sessions_active": 0,
        "voicectl_worker_queue_depth": 0,
        "voicectl_orchestrator_sessions_active": 0,
    }

    failures = report["failures"]
    grew = {name for name in PROCESSES if processes[name]["growth_pct"] > 0}
    assert {f.split(" RSS grew ")[0] for f in failures if " RSS grew " in f} == grew
    assert len(failures) == len(grew)  # nothing else failed
    assert report["meets_target"] is (not failures)
    assert result.returncode == (1 if failures else 0)
    for failure in failures:
        assert f"soak failed: {failure}" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seconds", "5"], "--seconds/--minutes: the soak must last >= 10 s, got 5 s"),
        (["--minutes", "1", "--seconds", "20"], "give --minutes or --seconds, not both"),
        (["--max-growth-pct", "-1"], "--max-growth-pct must be >= 0, got -1"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(args: list[str], message: str) -> None:
    """Each bound of SoakConfig is in tests/unit/test_soak_config.py; here the exit code."""
    result = run("bench", "soak", *args, timeout=60)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())


def test_a_worker_nobody_runs_exits_3_before_anything_starts() -> None:
    port = free_port()
    result = run("bench", "soak", "--seconds", "20", "--worker", f"127.0.0.1:{port}", timeout=60)
    assert result.returncode == 3
    assert f"no worker listening on 127.0.0.1:{port} (--worker)" in result.stderr
