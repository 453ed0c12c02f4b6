"""The JSON fields of each bench as docs/benchmarks.md documents them."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "benchmarks.md"
ROW = re.compile(r"^\| `([\w-]+)` \| (.+) \|$")
FIELD = re.compile(r"`(\w+)`(?![^(]*\))")  # backticked names outside parentheses


def documented_fields(bench: str) -> set[str]:
    """The top-level keys the `--json` table lists for ``bench``."""
    section = DOC.read_text(encoding="utf-8").split("## `--json` output", 1)[1]
    for line in section.splitlines():
        match = ROW.match(line)
        if match and match.group(1) == bench:
            return set(FIELD.findall(match.group(2)))
    raise AssertionError(f"docs/benchmarks.md documents no JSON fields for {bench!r}")
