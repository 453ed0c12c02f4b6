"""Logging for every command: rich console lines, or JSON lines for services.

Context that belongs on every line (session, worker, model, request ids) lives in
context variables set where the work starts, so deep code needs no extra arguments.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.logging import RichHandler

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("json", "console")
FORMAT_CHOICES = ("auto", *FORMATS)  # auto: console on a terminal, JSON lines otherwise
CONTEXT_FIELDS = ("session_id", "worker_id", "model_id", "request_id")
_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(name, default=None) for name in CONTEXT_FIELDS
}
_service: str = "voicectl"
_installed: list[logging.Handler] = []


@contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """Attach ids to every log line emitted inside the block (and tasks it creates)."""
    tokens = [(_context[k], _context[k].set(v)) for k, v in values.items() if k in _context]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def set_log_context(**values: str | None) -> None:
    """Like ``log_context`` for the rest of the current task."""
    for key, value in values.items():
        if key in _context:
            _context[key].set(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, context ids."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": _service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, var in _context.items():
            entry[name] = var.get()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def resolve_format(log_format: str) -> str:
    """``auto``: rich console lines when stderr is a terminal, JSON lines for pipes and
    log collectors; ``json`` and ``console`` as given."""
    if log_format == "auto":
        return "console" if sys.stderr.isatty() else "json"
    return log_format


def setup_logging(
    level: str = "info",
    *,
    log_format: str = "console",
    service: str = "voicectl",
    console: Console | None = None,
) -> None:
    """Configure the root logger once (later calls replace the handler)."""
    global _service
    if level.lower() not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {log_format!r}")
    _service = service
    root = logging.getLogger()
    root.setLevel(level.upper())
    for old in _installed:
        root.removeHandler(old)
    _installed.clear()
    handler: logging.Handler
    if log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    else:
        handler = RichHandler(
            console=console or Console(stderr=True), show_path=False, rich_tracebacks=True
        )
    _installed.append(handler)
    root.addHandler(handler)
    for noisy in ("grpc", "asyncio", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
