"""Reading a Synthesize request stream: config first, then text chunks, then end.

Bad bytes, requests out of order and text over the limits become a RequestError with a
message the client can act on; the servicer turns it into the stream's status.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.worker.errors import RequestError, invalid, out_of_order
from voicectl.worker.session import SynthesisSession
from voicectl.worker.validation import require_some_text, validate_text

DRAIN_SECONDS = 0.5


@dataclass(frozen=True)
class MalformedRequest:
    """A SynthesizeRequest that failed to parse (e.g. text that is not UTF-8)."""

    error: str


def parse_synthesize_request(data: bytes) -> pb.SynthesizeRequest | MalformedRequest:
    """Deserializer that reports bad bytes to the handler instead of failing the RPC blindly."""
    try:
        return pb.SynthesizeRequest.FromString(data)
    except DecodeError as exc:
        if "UTF-8" in str(exc):
            return MalformedRequest(
                "a string field (text.text or a config field) is not valid UTF-8: "
                "encode text as UTF-8"
            )
        return MalformedRequest(f"malformed SynthesizeRequest: {exc}")


def expect_config(first: pb.SynthesizeRequest | MalformedRequest | None) -> pb.SessionConfig:
    if first is None:
        raise invalid("empty Synthesize stream: send a config, text chunks, then end")
    if isinstance(first, MalformedRequest):
        raise invalid(first.error)
    if first.WhichOneof("payload") != "config":
        raise out_of_order(
            "the first SynthesizeRequest must carry config (session id, model, sample rate); "
            f"got {first.WhichOneof('payload') or 'an empty request'}"
        )
    return first.config


async def read_text(
    requests: AsyncIterator[pb.SynthesizeRequest | MalformedRequest], session: SynthesisSession
) -> None:
    """Feed text chunks to the session; bad input fails the stream with a clear status."""
    received = 0
    saw_non_space = False
    try:
        async for request in requests:
            if isinstance(request, MalformedRequest):
                raise invalid(request.error)
            kind = request.WhichOneof("payload")
            if session.input_closed:
                raise out_of_order(
                    f"{kind or 'request'} after end-of-input: nothing may follow end"
                )
            if kind == "config":
                raise out_of_order("config sent twice: only the first request carries config")
            if kind == "text":
                validate_text(request.text.text, received_chars=received)
                received += len(request.text.text)
                saw_non_space = saw_non_space or not request.text.text.isspace()
                session.feed_text(request.text.text)
            elif kind == "end":
                require_some_text(received, saw_non_space)
                session.end_input()
            else:
                raise invalid("SynthesizeRequest has no payload: set config, text or end")
        if not session.input_closed:  # half-close without `end` also ends the text
            require_some_text(received, saw_non_space)
            session.end_input()
    except RequestError as exc:
        await drain_requests(requests)
        session.fail(exc)


async def drain_requests(requests: AsyncIterator[object]) -> None:
    """Read what the client already sent (briefly) before failing the call.

    grpc.aio clients report INTERNAL instead of our status when one of their
    writes is still in flight as the status arrives (grpc/grpc#36066); a client
    that sent its whole request has half-closed by now, so this returns at once.
    """
    with suppress(Exception):  # the call is failing already: what breaks here changes nothing
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in requests:
                pass
