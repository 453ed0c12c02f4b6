"""Logging setup shared by every command: rich console lines on a terminal."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

LEVELS = ("debug", "info", "warning", "error")


def setup_logging(level: str = "info", *, console: Console | None = None) -> None:
    """Configure the root logger once; later calls only change the level."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        handler = RichHandler(
            console=console or Console(stderr=True),
            show_path=False,
            rich_tracebacks=True,
        )
        root.addHandler(handler)
    for noisy in ("grpc", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
