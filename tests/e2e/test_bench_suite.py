"""Every conversation bench runs end to end on small N and emits its documented JSON."""

from __future__ import annotations

import json

import pytest

from tests.e2e.bench_fields import documented_fields
from tests.e2e.test_cli import run

pytestmark = pytest.mark.slow


def summary_ok(value: object) -> None:
    assert isinstance(value, dict)
    assert set(value) == {"min", "p50", "p95", "max", "mean"}
    assert 0 <= value["min"] <= value["p50"] <= value["p95"] <= value["max"]


def bench(*args: str) -> dict[str, object]:
    result = run("bench", *args, "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["bench"] == args[0]
    assert set(report) == documented_fields(args[0]), "docs/benchmarks.md lists these fields"
    assert {"cpu_count", "platform", "python"} <= set(report["machine"])  # type: ignore[arg-type]
    return report  # type: ignore[no-any-return]


def test_bargein() -> None:
    report = bench("bargein", "--runs", "2", "--model", "mock:sine")
    summary_ok(report["server_ms"])
    summary_ok(report["client_ms"])
    assert report["noise_bursts"] == 1
    assert report["false_stop_rate"] == 0.0
    assert isinstance(report["meets_target"], bool)


def test_e2e() -> None:
    report = bench("e2e", "--runs", "1")
    summary_ok(report["voice_to_voice_ms"])
    summary_ok(report["server_after_vad_end_ms"])
    assert report["target_p95_ms"] == 400


def test_jitter() -> None:
    report = bench("jitter", "--sessions", "2", "--model", "mock:sine")
    summary_ok(report["lateness_ms"])
    assert report["frames"] > 100
    assert report["underruns"] == 0


def test_asr() -> None:
    report = bench("asr", "--runs", "1")
    summary_ok(report["final_after_speech_ms"])
    assert "weather" in " ".join(report["transcripts"]).lower()  # type: ignore[arg-type]


def test_load() -> None:
    report = bench("load", "--sessions", "2", "--seconds", "2", "--model", "mock:sine")
    summary_ok(report["first_audio_ms"])
    assert report["turns"] >= 2
    assert report["errors"] == 0
    frames = report["underrun_frames"]
    assert isinstance(frames, list)
    assert len(frames) == report["underruns"]
    assert report["rss_mib"] > 50


def test_rtf() -> None:
    report = bench("rtf", "--runs", "2", "--model", "mock:sine")
    summary_ok(report["rtf"])
    assert 0 < report["rtf"]["p50"] < 1  # type: ignore[index]
