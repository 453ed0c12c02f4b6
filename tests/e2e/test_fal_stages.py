"""scripts/fal_stages.py, the per-stage profile docs/benchmarks.md quotes, still runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parents[2] / "scripts" / "fal_stages.py"


def test_the_stages_add_up_to_the_first_audio() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--text", "Sure.", "--runs", "3", "--warmup", "1",
         "--gap-ms", "0", "--json"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    stages = report["stages_ms"]
    assert list(stages) == [
        "send->feed", "feed->job_start", "job_start->head_start", "head_start->head_end",
        "head_end->job_end", "job_end->frame0", "frame0->recv",
    ]  # fmt: skip
    assert all(value >= 0 for value in stages.values()), stages
    assert stages["head_start->head_end"] == max(stages.values()), "inference dominates"
    # Medians of parts need not sum to the median total, but they come close.
    assert abs(sum(stages.values()) - report["total_ms"]) < 0.25 * report["total_ms"]
