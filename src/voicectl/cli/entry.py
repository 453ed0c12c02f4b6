"""The ``voicectl`` executable. ``voicectl health`` answers without importing the rest.

Container health checks run it every few seconds, and the whole CLI takes seconds of
CPU to import (numpy, the worker, the benches); the probe needs a fraction of that.
"""

from __future__ import annotations

import sys

from voicectl.rpc.tls import TLSConfigError

USAGE = 2  # cli.common.Exit.USAGE, without importing the CLI


def main() -> None:
    try:
        if sys.argv[1:2] == ["health"]:
            from voicectl.cli.health import app

            app(prog_name="voicectl health", args=sys.argv[2:])
            return
        from voicectl.cli.app import main as full_cli

        full_cli()
    except TLSConfigError as exc:  # any command that dials a worker reads these variables
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(USAGE) from None
