"""voicectl.cli: the command line.

gRPC's C core logs to stderr by itself (``chttp2_transport.cc ... Got goaway`` after
every closed channel) at a verbosity it reads from GRPC_VERBOSITY when it loads, which
is before any flag is parsed. So it is set here, before any command imports gRPC:
errors only, everything with ``--log-level debug``, and a value the user exported wins.
"""

from __future__ import annotations

import os
import sys


def _grpc_verbosity(argv: list[str]) -> str:
    for index, arg in enumerate(argv):
        value = arg.partition("=")[2] if arg.startswith("--log-level=") else None
        if arg == "--log-level" and index + 1 < len(argv):
            value = argv[index + 1]
        if value is not None and value.lower() == "debug":
            return "DEBUG"
    return "ERROR"


os.environ.setdefault("GRPC_VERBOSITY", _grpc_verbosity(sys.argv[1:]))
