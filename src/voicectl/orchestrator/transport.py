"""What a session sees of its client: audio in, audio out, events both ways.

A transport (WebSocket today, WebRTC later) turns its wire format into these
messages and the typed events of voicectl.orchestrator.events into its own; it also
runs its own handshake, which yields the SessionSettings. Swapping transports means
writing one class, never touching the session.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from voicectl.audio.frames import frame_bytes
from voicectl.orchestrator.events import ServerEvent, Start, Started, parse_client_event


@dataclass(frozen=True)
class AudioIn:
    """One 20 ms PCM16 mono frame at the session's input rate."""

    pcm: bytes


@dataclass(frozen=True)
class TextIn:
    """A user turn typed instead of spoken."""

    text: str


@dataclass(frozen=True)
class BadInput:
    """Something the client sent that the transport could not accept; the session reports it."""

    code: str
    message: str


Inbound = AudioIn | TextIn | BadInput


@dataclass(frozen=True, kw_only=True)
class SessionSettings:
    """Negotiated at session start (the WebSocket ``start`` message)."""

    session_id: str
    input_sample_rate: int
    output_sample_rate: int
    model_id: str = ""
    voice: str = ""


# What runs one conversation over a transport (Orchestrator.run_session); the web page's
# server and the LiveKit agent hand every transport they open to it.
RunSession = Callable[["Transport", "SessionSettings"], Awaitable[None]]


def media_settings(
    prefix: str, *, input_sample_rate: int, output_sample_rate: int, model_id: object = "",
    voice: object = "", default_voice: tuple[str, str] = ("", ""),
) -> SessionSettings:  # fmt: skip
    """The settings of a session whose client asks for its voice outside a ``start``
    message (a WebRTC offer, a LiveKit user's metadata), checked as a ``start`` is:
    EventError names the field. No model asked for means ``default_voice``."""
    start = parse_client_event({
        "type": "start", "input_sample_rate": input_sample_rate,
        "output_sample_rate": output_sample_rate, "model_id": model_id, "voice": voice,
    })  # fmt: skip
    assert isinstance(start, Start)
    model_id, voice = (start.model_id, start.voice) if start.model_id else default_voice
    return SessionSettings(
        session_id=f"{prefix}-{uuid.uuid4().hex[:12]}",
        input_sample_rate=input_sample_rate,
        output_sample_rate=output_sample_rate,
        model_id=model_id,
        voice=voice,
    )


def started(settings: SessionSettings) -> Started:
    """The event that tells a client its session is on, and every frame's size."""
    return Started(
        session_id=settings.session_id,
        input_sample_rate=settings.input_sample_rate,
        output_sample_rate=settings.output_sample_rate,
        input_frame_bytes=frame_bytes(settings.input_sample_rate),
        output_frame_bytes=frame_bytes(settings.output_sample_rate),
    )


class Transport(Protocol):
    """The session's only view of its client."""

    # Frames the pacer sends ahead of their play time, or None for the session policy's
    # (barge_in.pacer_lookahead_frames). A transport whose client has its own jitter
    # buffer (WebRTC) needs fewer: every frame ahead is latency.
    pacer_lookahead_frames: int | None

    def incoming(self) -> AsyncIterator[Inbound]:
        """Messages from the client until it disconnects."""
        ...

    def send_audio(self, pcm: bytes) -> None:
        """Queue one 20 ms PCM16 frame at the output rate (paced by the caller)."""

    def send_event(self, event: ServerEvent) -> None:
        """Queue an event; events overtake audio not yet written, order is kept."""

    def discard_pending_audio(self) -> int:
        """Drop audio handed over but not yet written (barge-in); return how many frames."""
        ...

    async def close(self, reason: str = "") -> None: ...
