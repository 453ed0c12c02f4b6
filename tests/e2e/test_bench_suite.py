"""Every conversation bench runs end to end on small N and emits its documented JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.bench_fields import documented_fields
from tests.e2e.test_cli import run

pytestmark = pytest.mark.slow
REPO = Path(__file__).parents[2]
JFK = "../shared/audio/jfk.flac"  # relative to the repository, as docs/cli.md writes it
JFK_TEXT = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def summary_ok(value: object) -> None:
    assert isinstance(value, dict)
    assert set(value) == {"min", "p50", "p95", "max", "mean"}
    assert 0 <= value["min"] <= value["p50"] <= value["p95"] <= value["max"]


def bench(*args: str, cwd: Path | None = None) -> dict[str, object]:
    result = run("bench", *args, "--json", timeout=600, cwd=cwd)
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


def test_bargein_over_webrtc() -> None:
    """The client is an aiortc peer on the --web endpoint; its figure ends when the reply
    track falls silent at the client, so it cannot be under the server's."""
    report = bench("bargein", "--runs", "2", "--model", "mock:sine", "--transport", "webrtc")
    summary_ok(report["server_ms"])
    summary_ok(report["client_ms"])
    assert report["client_ms"]["min"] > report["server_ms"]["min"]  # type: ignore[index]
    assert report["false_stop_rate"] == 0.0


def test_e2e_over_webrtc() -> None:
    report = bench("e2e", "--runs", "1", "--transport", "webrtc")
    summary_ok(report["voice_to_voice_ms"])
    summary_ok(report["server_after_vad_end_ms"])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--transport", "pigeon"], "--transport 'pigeon': use websocket, webrtc or livekit"),
        (["--url", "ws://127.0.0.1:9", "--transport", "webrtc"], "leave --transport out"),
        (["--url", "ftp://127.0.0.1:9"], "http://HOST:PORT of its --web page"),
    ],
)
def test_a_bad_transport_is_a_usage_error(args: list[str], words: str) -> None:
    result = run("bench", "e2e", *args)
    assert result.returncode == 2
    assert words in " ".join(result.stderr.split())


def test_e2e() -> None:
    report = bench("e2e", "--runs", "1")
    summary_ok(report["voice_to_voice_ms"])
    summary_ok(report["server_after_vad_end_ms"])
    assert report["target_p95_ms"] == 400


def test_e2e_with_a_recorded_question() -> None:
    report = bench("e2e", "--input", JFK, "--runs", "1", cwd=REPO)
    assert report["runs"] == 1
    summary_ok(report["voice_to_voice_ms"])
    summary_ok(report["server_after_vad_end_ms"])


def test_turns_on_real_speech() -> None:
    """Structure and sane values only: how many turns the sentence takes, and its WER, are
    what the turn-taking work is judged by, asserted with it."""
    report = bench("turns", "--input", JFK, "--reference", JFK_TEXT, "--runs", "1", cwd=REPO)
    assert report["runs"] == 1
    (recording,) = report["inputs"]  # type: ignore[misc]
    assert recording["file"] == JFK
    assert recording["seconds"] == 11.0
    assert 10.0 < recording["speech_end_s"] < 11.0
    assert recording["reference"] == JFK_TEXT
    (result,) = report["results"]  # type: ignore[misc]
    assert result["input"] == "jfk.flac"
    assert result["run"] == 1
    assert result["turns"] >= 1
    assert result["turns"] == len(result["transcripts"])
    assert all(isinstance(t, str) and t.strip() for t in result["transcripts"])
    assert isinstance(result["wer"], float)
    assert 0.0 <= result["wer"] <= 1.0
    assert isinstance(result["loops"], int)
    assert len(result["loop_texts"]) <= result["loops"]  # the distinct looping texts
    assert result["max_compression_ratio"] > 0
    for name in ("final_after_speech_ms", "voice_to_voice_ms"):
        assert result[name] > 0, name  # the client saw both after the speech ended
        summary_ok(report[name])
    for name in ("server_final_after_vad_end_ms", "server_reply_after_vad_end_ms"):
        assert result[name] is None or result[name] >= 0, name
    assert report["single_turn_rate"] == (1.0 if result["turns"] == 1 else 0.0)
    assert report["wer_mean"] == report["wer_max"] == result["wer"]
    assert report["loops"] == result["loops"]


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
