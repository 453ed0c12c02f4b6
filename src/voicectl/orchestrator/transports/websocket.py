"""The WebSocket transport: JSON control messages and binary 20 ms PCM16 frames.

Protocol (docs/protocol.md, "Orchestrator WebSocket"): the client sends a JSON
``start`` first; the server answers ``started``. Then binary frames carry audio
both ways and JSON carries events. Events overtake audio waiting to be written.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from voicectl.audio.frames import SUPPORTED_SAMPLE_RATES, frame_bytes
from voicectl.orchestrator.transport import AudioIn, BadInput, Inbound, SessionSettings, TextIn
from voicectl.speakable import unspeakable

MAX_TEXT_CHARS = 4096
MAX_MESSAGE_BYTES = 64 * 1024
START_TIMEOUT_S = 30.0
# A client that does not read must not grow the server: past these, it is disconnected
# (close code 1008). A reply is paced in real time, so 10 s of audio is never reached by
# a client that plays what it gets.
MAX_QUEUED_EVENTS = 512
MAX_QUEUED_AUDIO_FRAMES = 500  # 10 s of 20 ms frames
# Bad messages: at most this many error events a second; a client sending more than
# BAD_MESSAGES_CLOSE in one second is disconnected.
ERROR_EVENTS_PER_S = 10
BAD_MESSAGES_CLOSE = 200


class HandshakeError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


QUOTE_LIMIT = 80


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``ascii(value)``, cut: a 60 KB value makes a short error, and a close reason built
    from it stays ASCII (one byte a character: under the 123 bytes a close frame holds)."""
    shown = ascii(value)
    if len(shown) <= limit:
        return shown
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{shown[:limit]}...{size}"


class BadJson(Exception):
    """A client's text message that json.loads cannot turn into a value."""


def load_json(raw: str, what: str) -> Any:
    """``json.loads``, with every way client text makes it fail raised as BadJson.

    Besides syntax errors: nesting past the recursion limit (RecursionError) and an
    integer longer than Python converts (ValueError; it crashed the session).
    """
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadJson(f"{what} is not valid JSON: {exc.msg}") from None
    except RecursionError:  # "[[[[..." a few thousand deep: no message of ours nests so
        raise BadJson(f"{what} nests too deeply; messages are flat JSON objects") from None
    except ValueError:
        limit = sys.get_int_max_str_digits()
        raise BadJson(f"{what} has a number of over {limit} digits") from None


def parse_start(raw: str | bytes) -> SessionSettings:
    """Validate the client's ``start`` message; errors name the field and allowed values."""
    if isinstance(raw, bytes):
        raise HandshakeError("expected_start", "send a JSON start message before any audio")
    try:
        message = load_json(raw, "start message")
    except BadJson as exc:
        raise HandshakeError("bad_json", str(exc)) from None
    if not isinstance(message, dict) or message.get("type") != "start":
        raise HandshakeError("expected_start", 'the first message must be {"type": "start", ...}')
    rates = ", ".join(str(r) for r in SUPPORTED_SAMPLE_RATES)
    values = {}
    for key, default in (("input_sample_rate", 16000), ("output_sample_rate", 24000)):
        value = message.get(key, default)
        if value not in SUPPORTED_SAMPLE_RATES or isinstance(value, bool):
            raise HandshakeError(
                "bad_sample_rate",
                f"start.{key} {quoted(value)} is not supported; use one of {rates}",
            )
        values[key] = int(value)
    for key in ("model_id", "voice"):
        name = message.get(key, "")
        if not isinstance(name, str):
            raise HandshakeError("bad_field", f"start.{key} must be a string")
        # A lone surrogate cannot even be encoded for the worker: every reply failed
        # as "the synthesis stream was cancelled", naming nothing the client sent.
        reason = unspeakable(name)
        if reason is not None:
            raise HandshakeError(
                "bad_field", f"start.{key} has a {reason}; model ids and voices are printable"
            )
    return SessionSettings(
        session_id=f"ws-{uuid.uuid4().hex[:12]}",
        input_sample_rate=values["input_sample_rate"],
        output_sample_rate=values["output_sample_rate"],
        model_id=str(message.get("model_id", "")),
        voice=str(message.get("voice", "")),
    )


def parse_message(raw: str | bytes, *, input_frame_bytes: int) -> Inbound:
    """Turn one client message (after ``start``) into what the session understands."""
    if isinstance(raw, bytes):
        if len(raw) != input_frame_bytes:
            return BadInput(
                "bad_frame",
                f"binary frames must be exactly {input_frame_bytes} bytes "
                f"(20 ms of PCM16 mono at the input rate); got {len(raw)}",
            )
        return AudioIn(raw)
    try:
        message = load_json(raw, "message")
    except BadJson as exc:
        return BadInput("bad_json", str(exc))
    kind = message.get("type") if isinstance(message, dict) else None
    if kind == "text":
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            return BadInput("bad_field", "text.text must be a non-empty string")
        if len(text) > MAX_TEXT_CHARS:
            return BadInput("bad_field", f"text.text is over {MAX_TEXT_CHARS} characters")
        reason = unspeakable(text)
        if reason is not None:
            return BadInput("bad_field", f"text.text has a {reason}; send printable text")
        return TextIn(text)
    if kind == "start":
        return BadInput("already_started", "start was already received for this session")
    return BadInput("unknown_type", f"unknown message type {quoted(kind)}; send 'text' or audio")


class WebSocketTransport:
    """Adapts one websockets connection to the session's Transport interface."""

    def __init__(
        self,
        connection: ServerConnection,
        settings: SessionSettings,
        *,
        throttle: Callable[[], str | None] | None = None,
    ) -> None:
        """``throttle`` is asked before each JSON message: a reason to drop it (the
        client's message quota is spent), or None."""
        self.connection = connection
        self._throttle = throttle
        self.input_frame_bytes = frame_bytes(settings.input_sample_rate)
        self._events: deque[str] = deque()
        self._audio: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self._writer = asyncio.create_task(self._write_forever(), name="ws-writer")
        self._closing: asyncio.Task[None] | None = None
        self._bad_window = (0.0, 0)  # (second it started, bad messages in it)

    async def incoming(self) -> AsyncIterator[Inbound]:
        try:
            async for raw in self.connection:
                limited = self._throttle() if isinstance(raw, str) and self._throttle else None
                if limited is not None:
                    message: Inbound = BadInput("rate_limited", limited)
                else:
                    message = parse_message(raw, input_frame_bytes=self.input_frame_bytes)
                if isinstance(message, BadInput):
                    bad = self._count_bad()
                    if bad > BAD_MESSAGES_CLOSE:
                        self._disconnect(f"too many bad messages (over {BAD_MESSAGES_CLOSE}/s)")
                        return
                    if bad > ERROR_EVENTS_PER_S:
                        continue  # answered enough this second: drop, don't queue
                yield message
        except ConnectionClosed:
            return

    def send_audio(self, pcm: bytes) -> None:
        if len(self._audio) >= MAX_QUEUED_AUDIO_FRAMES:
            self._disconnect("client is not reading audio")
            return
        self._audio.append(pcm)
        self._wakeup.set()

    def send_event(self, event: Mapping[str, object]) -> None:
        if len(self._events) >= MAX_QUEUED_EVENTS:
            self._disconnect("client is not reading events")
            return
        self._events.append(json.dumps(event))
        self._wakeup.set()

    def _count_bad(self) -> int:
        """Bad messages in the current one-second window, this one included."""
        now = asyncio.get_running_loop().time()
        started, count = self._bad_window
        if now - started >= 1.0:
            started, count = now, 0
        self._bad_window = (started, count + 1)
        return count + 1

    def _disconnect(self, reason: str) -> None:
        """Close with 1008 once; queued output is dropped (the session then ends)."""
        if self._closing is not None:
            return
        self._events.clear()
        self._audio.clear()
        self._writer.cancel()
        self._closing = asyncio.ensure_future(self.connection.close(1008, reason))

    def discard_pending_audio(self) -> int:
        dropped = len(self._audio)
        self._audio.clear()
        return dropped

    async def close(self, reason: str = "") -> None:
        self._writer.cancel()
        if self._closing is not None:  # already closing with 1008: keep that code
            await self._closing
            return
        await self.connection.close(reason=reason)

    async def _write_forever(self) -> None:
        try:
            while True:
                if self._events:
                    await self.connection.send(self._events.popleft())
                elif self._audio:
                    await self.connection.send(self._audio.popleft())
                else:
                    self._wakeup.clear()
                    await self._wakeup.wait()
        except ConnectionClosed:
            return
