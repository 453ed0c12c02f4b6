"""Who may call the worker: a bearer token on every RPC, an admin token for Load/Unload.

The decision is pure (``Credentials.decide``); ``TokenInterceptor`` applies it to each
call from its ``authorization`` metadata before the handler runs. Health checks stay
open, so load balancers and ``wait_ready`` probe without a secret.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from voicectl.tokens import ADMIN_TOKEN_ENV, TOKEN_ENV
from voicectl.worker.request_stream import drain_requests

ADMIN_METHODS = frozenset({"LoadModel", "UnloadModel"})
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


@dataclass(frozen=True)
class Denial:
    code: grpc.StatusCode
    message: str


@dataclass(frozen=True)
class Credentials:
    """``token`` opens every RPC; ``admin_token`` opens every RPC and is the only key to
    LoadModel/UnloadModel when it is set. Neither set: the worker is open (loopback use)."""

    token: str | None = None
    admin_token: str | None = None

    @property
    def required(self) -> bool:
        return bool(self.token or self.admin_token)

    def decide(self, method: str, presented: str | None) -> Denial | None:
        """None to let the call through, else why not (UNAUTHENTICATED or PERMISSION_DENIED)."""
        if method.startswith(OPEN_PREFIXES):
            return None
        name = method.rsplit("/", 1)[-1]
        admin = name in ADMIN_METHODS
        if admin:
            keys = [self.admin_token] if self.admin_token else [self.token] if self.token else []
        else:  # only an admin token set: synthesis stays open, the model manager closed
            keys = [key for key in (self.token, self.admin_token) if key] if self.token else []
        if not keys:
            return None
        if presented is not None and any(_same(presented, key) for key in keys):
            return None
        if admin and presented is not None and self.token and _same(presented, self.token):
            return Denial(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{name} needs the worker's admin token ({ADMIN_TOKEN_ENV}); "
                "this token may synthesize only",
            )
        wanted = ADMIN_TOKEN_ENV if admin and self.admin_token else TOKEN_ENV
        what = "no token was sent" if presented is None else "the token is not valid"
        return Denial(
            grpc.StatusCode.UNAUTHENTICATED,
            f"{name} needs a token ({what}): send 'authorization: Bearer TOKEN' metadata; "
            f"voicectl clients send {wanted}",
        )


def _same(presented: str, key: str) -> bool:
    return hmac.compare_digest(presented.encode(), key.encode())


def bearer(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    """The token of an ``authorization: Bearer TOKEN`` entry, if any."""
    for key, value in metadata or ():
        if key.lower() == "authorization":
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


if TYPE_CHECKING:  # generic in the stubs only
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor


class TokenInterceptor(_Interceptor):
    """Refuses a call before its handler runs when ``Credentials.decide`` says so."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        presented = bearer(handler_call_details.invocation_metadata)
        denial = self.credentials.decide(handler_call_details.method, presented)
        handler = await continuation(handler_call_details)
        if denial is None or handler is None:
            return handler
        return _refusing(handler, denial)


def _refusing(
    handler: grpc.RpcMethodHandler[Any, Any], denial: Denial
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same shape that aborts with ``denial`` without reading a message."""

    async def unary(request: object, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(denial.code, denial.message)

    async def streaming(
        requests: AsyncIterator[object], context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        await drain_requests(requests)  # else the client may see INTERNAL, not this code
        await context.abort(denial.code, denial.message)

    decode = handler.request_deserializer
    encode = handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(streaming, decode, encode)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(streaming, decode, encode)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(unary, decode, encode)
    return grpc.unary_unary_rpc_method_handler(unary, decode, encode)
