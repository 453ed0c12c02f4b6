"""``voicectl bench fal --peer wyoming``: a real wyoming-piper against a real worker process.

The report's shape and consistency are checked, never the times themselves (those
belong in docs/benchmarks.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.bench_fields import documented_fields
from tests.e2e.test_bench_fal import ENV
from voicectl.bench import peer

pytestmark = pytest.mark.slow
PEER_INSTALL = "uv sync --extra peer"


@pytest.fixture
def wyoming_installed() -> None:
    """The comparison itself needs the peer extra (the option checks do not)."""
    try:
        import wyoming_piper  # noqa: F401
    except ImportError:
        pytest.skip(f"needs wyoming-piper (CI installs it): {PEER_INSTALL}")


TEXTS = ("Sure.", "Hello there, how can I help you today?")


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voicectl", "bench", "fal", *args],
        capture_output=True, text=True, timeout=300, env=ENV, check=False,
    )  # fmt: skip


@pytest.mark.usefixtures("wyoming_installed")
def test_one_command_measures_both_servers_on_every_text() -> None:
    done = bench("--peer", "wyoming", "--runs", "2", "--warmup", "1",
                 "--text", TEXTS[0], "--text", TEXTS[1], "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == documented_fields("fal-peer"), "docs/benchmarks.md lists these"
    assert report["bench"] == "fal-peer"
    assert report["peer"] == "wyoming-piper"
    assert report["worker"] == "process"
    assert report["model_id"] == "piper:en_US-joe-medium"
    assert (report["runs"], report["warmup"], report["gap_ms"]) == (2, 1, 100.0)
    assert [row["text"] for row in report["texts"]] == list(TEXTS)
    for row, words, target in zip(report["texts"], (1, 8), (0.9, 0.35), strict=True):
        assert row["first_sentence_words"] == words
        assert row["target_ratio"] == target
        for side in ("voicectl_ms", "peer_ms"):
            stats = row[side]
            assert 0 < stats["min"] <= stats["p50"] <= stats["p95"] <= stats["max"], stats
        ratio = row["voicectl_ms"]["p50"] / row["peer_ms"]["p50"]
        assert row["ratio_p50"] == pytest.approx(ratio, abs=0.01)
        met = row["ratio_p50"] <= target and row["voicectl_ms"]["p95"] < 60
        assert row["meets_target"] == met
    assert report["meets_target"] == all(row["meets_target"] for row in report["texts"])


@pytest.mark.usefixtures("wyoming_installed")
def test_the_table_names_both_servers() -> None:
    done = bench("--peer", "wyoming", "--runs", "1", "--warmup", "0", "--text", "Sure.")
    assert done.returncode == 0, done.stderr
    assert "wyoming p50" in done.stdout
    assert "voicectl p50" in done.stdout
    assert "Sure." in done.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--peer", "nope"], 2, "--peer must be one of wyoming"),
        (["--text", "a.", "--text", "b."], 2, "--text is given once without --peer"),
        (["--peer", "wyoming", "--model", "mock:sine"], 2, "needs a Piper model"),
        (["--peer", "wyoming", "--model", "piper:nobody"], 4, "unknown model 'piper:nobody'"),
        (["--peer", "wyoming", "--concurrency", "2"], 2, "one stream at the native rate"),
        (["--peer", "wyoming", "--text", " "], 2, "--text must not be empty"),
    ],
)
def test_bad_peer_options_are_explained(args: list[str], code: int, message: str) -> None:
    done = bench(*args)
    assert done.returncode == code, done.stderr
    assert message in " ".join(done.stderr.split())


def test_first_sentence_words_pick_the_target() -> None:
    assert peer.first_sentence_words("Okay. I set a timer for fifteen minutes.") == 1
    assert peer.first_sentence_words("Hello there, how can I help you today?") == 8
    assert peer.first_sentence_words("no end at all here") == 5
    assert peer.target_ratio("Sure.") == peer.TARGET_SHORT_RATIO
    assert peer.target_ratio(peer.SUITE[3]) == peer.TARGET_LONG_RATIO


async def test_a_missing_peer_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wyoming_piper", None)  # import fails
    with pytest.raises(peer.PeerUnavailable, match="uv sync --extra peer"):
        async with peer.wyoming_piper(Path(__file__), Path(__file__)):
            pass


def test_the_command_without_wyoming_is_one_line_and_starts_nothing() -> None:
    """Was exit 3 with an 'asynchronous generator' traceback: the worker it had already
    started was left to the garbage collector."""
    code = (
        "import sys; sys.modules['wyoming_piper'] = None; from voicectl.cli.app import main; "
        "sys.argv = ['voicectl', 'bench', 'fal', '--peer', 'wyoming', '--runs', '1']; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=ENV
    )
    assert result.returncode == 3, result.stderr
    assert "uv sync --extra peer" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
