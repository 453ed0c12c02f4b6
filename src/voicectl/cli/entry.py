"""The ``voicectl`` executable. ``voicectl health`` answers without importing the rest.

Container health checks run it every few seconds, and the whole CLI takes seconds of
CPU to import (numpy, the worker, the benches); the probe needs a fraction of that.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["health"]:
        from voicectl.cli.health import app

        app(prog_name="voicectl health", args=sys.argv[2:])
        return
    from voicectl.cli.app import main as full_cli

    full_cli()
