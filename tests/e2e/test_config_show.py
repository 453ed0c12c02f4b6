"""`voicectl config show`: resolved values and where each came from, as a table and JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.e2e.test_cli import ENV, VOICECTL

REPO = Path(__file__).parents[2]


def show(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VOICECTL, "config", "show", *args],
        capture_output=True, text=True, timeout=60, env={**ENV, **(env or {})}, cwd=REPO,
    )  # fmt: skip


def rows(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    assert result.returncode == 0, result.stderr
    return {row["key"]: row for row in json.loads(result.stdout)["values"]}


def test_worker_values_name_their_layer() -> None:
    env = {
        "VOICECTL_PORT": "6001",
        "VOICECTL_REDIS": "redis://:s3cret@10.0.0.5:6379/0",
        "VOICECTL_TOKEN": "synthesis-token-0123456789",
        "VOICECTL_REGISTRY_SECRET": "registry-secret-0123456789",
    }
    values = rows(show("worker", "--config", "configs/worker.yaml", "--json", env=env))
    assert values["port"]["value"] == 6001
    assert values["port"]["source"] == "env VOICECTL_PORT"
    assert values["ttl"] == {
        "key": "ttl", "value": 300.0, "source": "file configs/worker.yaml", "env": "VOICECTL_TTL"
    }  # fmt: skip
    assert values["heartbeat"]["source"] == "default"
    assert values["redis"]["value"] == "redis://:***@10.0.0.5:6379/0"
    assert values["token"]["value"] == "***"
    assert values["registry_secret"]["value"] == "***"
    assert values["admin_token"]["value"] is None


def test_orchestrator_lists_every_phase_and_nested_variables() -> None:
    env = {"VOICECTL_LLM__MODEL": "qwen2.5"}
    values = rows(show("orchestrator", "--json", env=env))
    assert values["llm.model"]["value"] == "qwen2.5"
    assert values["llm.model"]["source"] == "env VOICECTL_LLM__MODEL"
    assert values["barge_in.thresholds.speaking.start_frames"]["value"] == 2
    assert values["barge_in.thresholds.barged_in.start_frames"]["source"] == "default"


def test_the_table_prints_whole_lines_when_piped() -> None:
    result = show("worker", env={"VOICECTL_DEFAULT_MODEL": "mock:sine", "COLUMNS": ""})
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if "default_model" in line)
    assert "'mock:sine'" in line
    assert "env VOICECTL_DEFAULT_MODEL" in line


def test_a_short_token_is_refused_without_echoing_it() -> None:
    result = show("worker", env={"VOICECTL_TOKEN": "hunter2"})
    assert result.returncode == 2
    assert "VOICECTL_TOKEN must be a token of 16+ characters" in result.stderr
    assert "hunter2" not in result.stderr


def test_a_bad_value_exits_2_naming_the_variable() -> None:
    result = show("worker", env={"VOICECTL_MAX_LOADED": "lots"})
    assert result.returncode == 2
    assert "VOICECTL_MAX_LOADED must be an integer in 1..64, got 'lots'" in result.stderr
    missing = show("orchestrator", "--config", "nowhere.yaml")
    assert missing.returncode == 2
    assert "cannot read config nowhere.yaml" in missing.stderr
