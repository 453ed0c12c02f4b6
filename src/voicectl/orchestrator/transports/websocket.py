"""The WebSocket transport: JSON control messages and binary 20 ms PCM16 frames.

Protocol (docs/protocol.md, "Orchestrator WebSocket"): the client sends a JSON
``start`` first; the server answers ``started``. Then binary frames carry audio
both ways and JSON carries events. Events overtake audio waiting to be written.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from voicectl.audio.frames import SUPPORTED_SAMPLE_RATES, frame_bytes
from voicectl.orchestrator.transport import AudioIn, BadInput, Inbound, SessionSettings, TextIn
from voicectl.speakable import unspeakable

MAX_TEXT_CHARS = 4096
MAX_MESSAGE_BYTES = 64 * 1024
START_TIMEOUT_S = 30.0


class HandshakeError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_start(raw: str | bytes) -> SessionSettings:
    """Validate the client's ``start`` message; errors name the field and allowed values."""
    if isinstance(raw, bytes):
        raise HandshakeError("expected_start", "send a JSON start message before any audio")
    try:
        message = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise HandshakeError("bad_json", f"start message is not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise HandshakeError("bad_json", "start message nests too deeply") from None
    if not isinstance(message, dict) or message.get("type") != "start":
        raise HandshakeError("expected_start", 'the first message must be {"type": "start", ...}')
    rates = ", ".join(str(r) for r in SUPPORTED_SAMPLE_RATES)
    values = {}
    for key, default in (("input_sample_rate", 16000), ("output_sample_rate", 24000)):
        value = message.get(key, default)
        if value not in SUPPORTED_SAMPLE_RATES or isinstance(value, bool):
            raise HandshakeError(
                "bad_sample_rate", f"start.{key} {value!r} is not supported; use one of {rates}"
            )
        values[key] = int(value)
    for key in ("model_id", "voice"):
        if not isinstance(message.get(key, ""), str):
            raise HandshakeError("bad_field", f"start.{key} must be a string")
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
        message = json.loads(raw)
    except json.JSONDecodeError as exc:
        return BadInput("bad_json", f"message is not valid JSON: {exc.msg}")
    except RecursionError:  # "[[[[..." a few thousand deep: no message of ours nests so
        return BadInput("bad_json", "message nests too deeply; messages are flat JSON objects")
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
    return BadInput("unknown_type", f"unknown message type {kind!r}; send 'text' or audio")


class WebSocketTransport:
    """Adapts one websockets connection to the session's Transport interface."""

    def __init__(self, connection: ServerConnection, settings: SessionSettings) -> None:
        self.connection = connection
        self.input_frame_bytes = frame_bytes(settings.input_sample_rate)
        self._events: deque[str] = deque()
        self._audio: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self._writer = asyncio.create_task(self._write_forever(), name="ws-writer")

    async def incoming(self) -> AsyncIterator[Inbound]:
        try:
            async for raw in self.connection:
                yield parse_message(raw, input_frame_bytes=self.input_frame_bytes)
        except ConnectionClosed:
            return

    def send_audio(self, pcm: bytes) -> None:
        self._audio.append(pcm)
        self._wakeup.set()

    def send_event(self, event: Mapping[str, object]) -> None:
        self._events.append(json.dumps(event))
        self._wakeup.set()

    def discard_pending_audio(self) -> int:
        dropped = len(self._audio)
        self._audio.clear()
        return dropped

    async def close(self, reason: str = "") -> None:
        self._writer.cancel()
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
