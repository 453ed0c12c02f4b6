"""The WebSocket transport: JSON control messages and binary 20 ms PCM16 frames.

Protocol (docs/protocol.md, "Orchestrator WebSocket"): the client sends a JSON
``start`` first; the server answers ``started``. Then binary frames carry audio
both ways and JSON carries events. Events overtake audio waiting to be written.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from typing import Literal

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from voicectl.audio.frames import FRAME_MS, frame_bytes
from voicectl.orchestrator.events import MAX_TEXT_CHARS as MAX_TEXT_CHARS  # the limit, here too
from voicectl.orchestrator.events import (
    BadJson,
    Error,
    EventError,
    ServerEvent,
    Start,
    Text,
    load_json,
    parse_client_event,
    quoted,
    to_json,
)
from voicectl.orchestrator.quotas import AudioMeter
from voicectl.orchestrator.transport import (
    AudioIn,
    BadInput,
    Inbound,
    SessionSettings,
    TextIn,
    started,
)

MAX_MESSAGE_BYTES = 64 * 1024
START_TIMEOUT_S = 30.0
# A client that does not read must not grow the server: past these, it is disconnected
# (close code 1008). A reply is paced in real time, so 10 s of audio is never reached by
# a client that plays what it gets.
MAX_QUEUED_EVENTS = 512
MAX_QUEUED_AUDIO_FRAMES = 500  # 10 s of 20 ms frames

FRAME_S = FRAME_MS / 1000  # what one input frame costs the conversation's AudioMeter

# Bad messages: at most this many error events a second; a client sending more than
# BAD_MESSAGES_CLOSE in one second is disconnected.
ERROR_EVENTS_PER_S = 10
BAD_MESSAGES_CLOSE = 200


class HandshakeError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_start(raw: str | bytes) -> SessionSettings:
    """The client's first message as the session's settings, or the error it earns.

    Only ``start`` is accepted here; its fields are checked by the events module.
    """
    if isinstance(raw, bytes):
        raise HandshakeError("expected_start", "send a JSON start message before any audio")
    try:
        message = load_json(raw, "start message")
    except BadJson as exc:
        raise HandshakeError("bad_json", str(exc)) from None
    if not isinstance(message, dict) or message.get("type") != "start":
        raise HandshakeError("expected_start", 'the first message must be {"type": "start", ...}')
    try:
        start = parse_client_event(message)
    except EventError as exc:
        raise HandshakeError(exc.code, exc.message) from None
    assert isinstance(start, Start)
    return SessionSettings(
        session_id=f"ws-{uuid.uuid4().hex[:12]}",
        input_sample_rate=start.input_sample_rate,
        output_sample_rate=start.output_sample_rate,
        model_id=start.model_id,
        voice=start.voice,
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
    if kind == "start":
        return BadInput("already_started", "start was already received for this session")
    if kind != "text":
        return BadInput(
            "unknown_type", f"unknown message type {quoted(kind)}; send 'text' or audio"
        )
    try:
        text = parse_client_event(message)
    except EventError as exc:
        return BadInput(exc.code, exc.message)
    assert isinstance(text, Text)
    return TextIn(text.text)


TOO_MANY_BAD = f"too many bad messages (over {BAD_MESSAGES_CLOSE}/s)"


async def close_reading(connection: ServerConnection, code: int, reason: str) -> None:
    """Close, reading what the client already sent meanwhile: with a full receive queue
    the library stops reading, never sees the client's close frame, and the close waits
    out its timeout while the client hears nothing."""
    closing = asyncio.ensure_future(connection.close(code, reason))
    with suppress(ConnectionClosed):
        async for _ in connection:
            pass
    await closing


class BadMessageWindow:
    """Bad messages in the current one-second window."""

    def __init__(self) -> None:
        self._started = -1.0
        self._count = 0

    def count(self) -> int:
        """Count one more; the number in this second, it included."""
        now = asyncio.get_running_loop().time()
        if self._started < 0 or now - self._started >= 1.0:
            self._started, self._count = now, 0
        self._count += 1
        return self._count

    def judge(self) -> Literal["answer", "drop", "close"]:
        """Count one more bad message: answer it with an error, drop it (this second's
        errors are spent), or close the connection (a flood)."""
        count = self.count()
        if count > BAD_MESSAGES_CLOSE:
            return "close"
        return "drop" if count > ERROR_EVENTS_PER_S else "answer"


class WebSocketTransport:
    """Adapts one websockets connection to the session's Transport interface.

    Made by ``accept``, which runs the ``start`` exchange (the handshake is the
    transport's: another transport negotiates the same SessionSettings its own way).
    """

    # The policy's: the client's playback buffer is filled that far ahead.
    pacer_lookahead_frames: int | None = None

    @classmethod
    async def accept(
        cls,
        connection: ServerConnection,
        *,
        throttle: Callable[[], str | None] | None = None,
        audio_meter: AudioMeter | None = None,
    ) -> WebSocketTransport | None:
        """Wait for a valid ``start`` and answer ``started``; None if there is no session.

        Before it, each bad message gets an ``error`` event and the client may try again,
        except a bad sample rate, which closes with 1008, as does no valid ``start``
        within START_TIMEOUT_S (one deadline for the whole exchange).
        """
        settings: SessionSettings | None = None
        bad = BadMessageWindow()  # the same bounds as in a session: a flood ends it
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                while settings is None:
                    raw = await connection.recv()
                    try:
                        settings = parse_start(raw)
                    except HandshakeError as exc:
                        count = bad.count()
                        if count > BAD_MESSAGES_CLOSE:
                            await close_reading(connection, 1008, TOO_MANY_BAD)
                            return None
                        if count <= ERROR_EVENTS_PER_S:
                            await connection.send(
                                to_json(Error(code=exc.code, message=exc.message))
                            )
                        if exc.code == "bad_sample_rate":
                            await connection.close(1008, exc.message[:120])
                            return None
        except TimeoutError:
            await connection.close(1008, "no start message")
            return None
        except ConnectionClosed:  # the client went away during the handshake
            return None
        transport = cls(connection, settings, throttle=throttle, audio_meter=audio_meter)
        transport.send_event(started(settings))
        return transport

    def __init__(
        self,
        connection: ServerConnection,
        settings: SessionSettings,
        *,
        throttle: Callable[[], str | None] | None = None,
        audio_meter: AudioMeter | None = None,
    ) -> None:
        """``throttle`` is asked before each JSON message: a reason to drop it (the
        client's message quota is spent), or None. ``audio_meter`` bounds how far the
        audio may run ahead of real time; a frame past it is dropped, like bad input."""
        self.connection = connection
        self.settings = settings  # as negotiated; the server may fill in its default voice
        self._throttle = throttle
        self._audio_meter = audio_meter
        self.input_frame_bytes = frame_bytes(settings.input_sample_rate)
        self._events: deque[str] = deque()
        self._audio: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self._writer = asyncio.create_task(self._write_forever(), name="ws-writer")
        self._closing: asyncio.Task[None] | None = None
        self._bad = BadMessageWindow()

    async def incoming(self) -> AsyncIterator[Inbound]:
        try:
            async for raw in self.connection:
                limited = self._throttle() if isinstance(raw, str) and self._throttle else None
                if limited is not None:
                    message: Inbound = BadInput("rate_limited", limited)
                else:
                    message = parse_message(raw, input_frame_bytes=self.input_frame_bytes)
                meter = self._audio_meter
                if isinstance(message, AudioIn) and meter and not meter.allow(FRAME_S):
                    message = BadInput("audio_too_fast", meter.refusal())
                verdict = self._bad.judge() if isinstance(message, BadInput) else "answer"
                if verdict == "close":
                    self._disconnect(TOO_MANY_BAD)
                    return
                if verdict == "answer":  # a dropped one is not queued
                    yield message
        except ConnectionClosed:
            return

    def send_audio(self, pcm: bytes) -> None:
        if len(self._audio) >= MAX_QUEUED_AUDIO_FRAMES:
            self._disconnect("client is not reading audio")
            return
        self._audio.append(pcm)
        self._wakeup.set()

    def send_event(self, event: ServerEvent) -> None:
        if len(self._events) >= MAX_QUEUED_EVENTS:
            self._disconnect("client is not reading events")
            return
        self._events.append(to_json(event))
        self._wakeup.set()

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
