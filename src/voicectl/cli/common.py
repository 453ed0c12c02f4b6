"""Exit codes, consoles and error reporting shared by every command."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import NoReturn
from urllib.parse import urlsplit

import grpc
import typer
from rich.console import Console

from voicectl.observability.logging import FORMAT_CHOICES, LEVELS, resolve_format, setup_logging
from voicectl.rpc.address import PASS_THROUGH, WorkerAddressError, split_host_port

PIPE_WIDTH = 4096  # wide enough that no table column or message is cut or wrapped


def _console(*, stderr: bool) -> Console:
    """A terminal gets rich's wrapping to its width; a pipe or file gets whole lines, so
    `grep` and scripts see every line as printed (COLUMNS, when set, still wins)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty() or os.environ.get("COLUMNS"):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH, soft_wrap=True)


console = _console(stderr=False)
err_console = _console(stderr=True)


class Exit(IntEnum):
    """Exit codes scripts can rely on (documented in docs/cli.md)."""

    OK = 0
    FAILURE = 1  # the operation ran and failed (e.g. a model failed to load)
    USAGE = 2  # bad flags or arguments (typer's own code for usage errors)
    UNAVAILABLE = 3  # the worker or service could not be reached
    NOT_FOUND = 4  # an unknown model, session or resource
    REJECTED = 5  # the service refused: bad input, in use, limits reached


_STATUS_TO_EXIT = {
    grpc.StatusCode.UNAVAILABLE: Exit.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: Exit.UNAVAILABLE,
    grpc.StatusCode.NOT_FOUND: Exit.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT: Exit.REJECTED,
    grpc.StatusCode.FAILED_PRECONDITION: Exit.REJECTED,
    grpc.StatusCode.ALREADY_EXISTS: Exit.REJECTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Exit.REJECTED,
    grpc.StatusCode.UNAUTHENTICATED: Exit.REJECTED,  # no token, or a wrong one
    grpc.StatusCode.PERMISSION_DENIED: Exit.REJECTED,  # a synthesis token on an admin RPC
}


LOG_LEVEL_HELP = "debug, info, warning or error (-v is debug, -q is error)."
QUIET = typer.Option(False, "--quiet", "-q", help="Log errors only (--log-level error).")
VERBOSE = typer.Option(False, "--verbose", "-v", help="Log everything (--log-level debug).")
LOG_FORMAT = typer.Option(
    "auto", help="auto (console lines on a terminal, JSON lines otherwise), json or console."
)


def start_logging(
    level: str,
    *,
    quiet: bool = False,
    verbose: bool = False,
    log_format: str = "console",
    service: str = "voicectl",
) -> str:
    """Install logging from the flags; a bad flag exits 2 naming it. Returns the level."""
    if quiet and verbose:
        fail("-q/--quiet and -v/--verbose contradict each other: give one", Exit.USAGE)
    chosen = "debug" if verbose else "error" if quiet else level.lower()
    if chosen not in LEVELS:
        fail(f"--log-level must be one of {', '.join(LEVELS)}, got {level!r}", Exit.USAGE)
    if log_format not in FORMAT_CHOICES:
        fail(
            f"--log-format must be one of {', '.join(FORMAT_CHOICES)}, got {log_format!r}",
            Exit.USAGE,
        )
    setup_logging(chosen, log_format=resolve_format(log_format), service=service)
    return chosen


def fail(message: str, code: Exit = Exit.FAILURE) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(int(code))


@contextmanager
def grpc_errors(target: str) -> Iterator[None]:
    """Turn gRPC errors into a one-line message and a meaningful exit code."""
    try:
        yield
    except grpc.aio.AioRpcError as exc:
        code = exc.code()
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            fail(f"worker {target} is unreachable ({code.name}): {exc.details()}", Exit.UNAVAILABLE)
        fail(f"{code.name}: {exc.details()}", _STATUS_TO_EXIT.get(code, Exit.FAILURE))
    except TimeoutError as exc:
        fail(str(exc), Exit.UNAVAILABLE)


CONNECT_TIMEOUT_HELP = "Seconds to wait for the worker to answer (a refused port fails at once)."
CONNECT_ANY_HELP = (
    "Seconds to wait for the orchestrator (--url) or worker to answer (a refused port fails "
    "at once)."
)


def parse_host_port(target: str, option: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``grpc://HOST:PORT`` (``[v6]:PORT`` too), or exit 2 naming
    ``option`` and the accepted forms (rpc/address.py)."""
    try:
        return split_host_port(target)
    except WorkerAddressError as exc:
        fail(f"{option} {exc}", Exit.USAGE)


def check_worker(target: str, option: str = "--worker", timeout: float = 10.0) -> None:
    """Fail fast, with exit 3, when nothing listens at ``target`` (gRPC would retry until
    its deadline). ``unix:`` and ``dns:`` targets go to gRPC unchecked."""
    _check_timeout(timeout)
    if target.strip().startswith(PASS_THROUGH):
        return
    host, port = parse_host_port(target, option)
    _reach("worker", host, port, option, timeout)


def check_orchestrator(
    url: str, option: str = "--url", timeout: float = 10.0, *, webrtc: bool = False
) -> None:
    """A ``ws://HOST:PORT`` URL (with ``webrtc``, also the ``http://HOST:PORT`` of an
    orchestrator's ``--web``; else exit 2) where something listens (else exit 3, at once
    for a refused port, after ``timeout`` seconds for one that never answers)."""
    _check_timeout(timeout)
    check_ws_url(url, option, webrtc=webrtc)
    parsed = urlsplit(url)
    _reach("orchestrator", str(parsed.hostname), int(parsed.port or 0), option, timeout)


def _check_timeout(timeout: float) -> None:
    if not timeout > 0:
        fail(f"--connect-timeout must be > 0 seconds, got {timeout:g}", Exit.USAGE)


def _reach(service: str, host: str, port: int, option: str, timeout: float) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except ConnectionRefusedError:
        fail(f"no {service} listening on {host}:{port} ({option})", Exit.UNAVAILABLE)
    except TimeoutError:
        fail(f"{service} {host}:{port} did not answer within {timeout:g} s (--connect-timeout)",
             Exit.UNAVAILABLE)  # fmt: skip
    except OSError as exc:  # unknown host, no route, ...
        fail(f"cannot reach {service} {host}:{port} ({option}): {exc.strerror or exc}",
             Exit.UNAVAILABLE)  # fmt: skip


def check_ws_url(url: str, option: str = "--url", *, webrtc: bool = False) -> None:
    """``ws://HOST:PORT`` or ``wss://HOST:PORT`` (with ``webrtc``, also ``http(s)://`` and
    a LiveKit room's ``livekit(s)://HOST:PORT/ROOM``), or exit 2 naming ``option``."""
    parsed = urlsplit(url)
    try:
        port = parsed.port
    except ValueError:
        port = None
    media = ("http", "https", "livekit", "livekits")
    schemes = ("ws", "wss", *media) if webrtc else ("ws", "wss")
    if parsed.scheme not in schemes or not parsed.hostname or port is None:
        page = (", http://HOST:PORT of its --web page (WebRTC), or livekit://HOST:PORT/ROOM "
                "(a room of a LiveKit server)") if webrtc else ""  # fmt: skip
        fail(f"{option} {url!r}: give the orchestrator as ws://HOST:PORT "
             f"(wss:// with TLS){page}, e.g. ws://127.0.0.1:8765", Exit.USAGE)  # fmt: skip


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
