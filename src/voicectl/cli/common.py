"""Exit codes, consoles and error reporting shared by every command."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import NoReturn

import grpc
import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


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
}


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


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
