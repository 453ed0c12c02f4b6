"""Errors that carry the gRPC status a person (or script) should see."""

from __future__ import annotations

import grpc


class RequestError(Exception):
    """Bad input or an impossible request: becomes a gRPC status with an actionable message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


QUOTE_LIMIT = 80


def quoted(value: str, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)``, cut: a 10 KB id from a client makes a short message, not a 10 KB one."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def invalid(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


def out_of_order(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.FAILED_PRECONDITION, message)
