"""Errors that carry the gRPC status a person (or script) should see."""

from __future__ import annotations

import grpc


class RequestError(Exception):
    """Bad input or an impossible request: becomes a gRPC status with an actionable message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


def out_of_order(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.FAILED_PRECONDITION, message)
