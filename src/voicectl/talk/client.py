"""Client side of the orchestrator WebSocket protocol, and a playback buffer model.

``TalkClient`` speaks the protocol; ``PlaybackBuffer`` is what a speaker does with
received frames (play at real time, flush on ``clear``) so that file mode records
exactly what a person would have heard, and benches can time playback stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Self, TypedDict, TypeVar, Unpack, cast

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from voicectl.audio.frames import frame_bytes
from voicectl.livekit_tokens import LiveKitCredentials
from voicectl.orchestrator import events as ev
from voicectl.tokens import ORCHESTRATOR_TOKEN_ENV
from voicectl.web_tls import client_context

log = logging.getLogger(__name__)

E = TypeVar("E", bound=ev.ServerEvent)


@dataclass(frozen=True, slots=True)
class Received(Generic[E]):
    """One server event as this client got it: ``at`` (``time.perf_counter()`` on
    arrival) and how many reply audio frames had arrived before it."""

    event: E
    at: float
    audio_before: int

    @property
    def type(self) -> str:
        """The event's wire ``type`` (``"reply.started"``...), for tallies and logs."""
        return self.event.type


def of_kind(received: list[Received[ev.ServerEvent]], kind: type[E]) -> list[Received[E]]:
    """The events of one class, in arrival order, typed as that class."""
    return cast(list[Received[E]], [r for r in received if isinstance(r.event, kind)])


@dataclass
class PlaybackBuffer:
    """A virtual speaker: frames play one per 20 ms; ``clear`` drops what has not played.

    ``reply`` holds the current reply's frames by index. A ``clear`` that names
    ``played_frames`` keeps exactly that many (the server re-sends the rest on RESUME),
    so what was heard can be reconstructed exactly.
    """

    sample_rate: int
    clock: Callable[[], float] = time.perf_counter
    queue: deque[bytes] = field(default_factory=deque)
    played: list[tuple[float, bytes]] = field(default_factory=list)  # (start time, frame)
    reply: list[bytes] = field(default_factory=list)
    replies: list[list[bytes]] = field(default_factory=list)
    cleared_frames: int = 0
    last_clear_at: float | None = None
    _next_start: float = 0.0

    def start_reply(self) -> None:
        self.reply = []
        self.replies.append(self.reply)

    def receive(self, frame: bytes) -> None:
        self.queue.append(frame)
        self.reply.append(frame)

    def clear(self, played_frames: int | None = None) -> None:
        keep = len(self.reply) if played_frames is None else min(played_frames, len(self.reply))
        drop_from_reply = len(self.reply) - keep if played_frames is not None else 0
        del self.reply[keep:]
        dropped = len(self.queue)
        if played_frames is not None:
            dropped = min(dropped, drop_from_reply)
            for _ in range(dropped):
                self.queue.pop()
        else:
            self.queue.clear()
        self.cleared_frames += dropped
        self.last_clear_at = self.clock()

    def tick(self) -> None:
        """Play every frame whose turn has come (call at least every 20 ms)."""
        now = self.clock()
        while self.queue and self._next_start <= now:
            start = max(self._next_start, now - 0.02)
            self.played.append((start, self.queue.popleft()))
            self._next_start = start + 0.02

    def render(self, *, start: float, end: float) -> bytes:
        """The speaker signal from ``start`` to ``end`` (silence where nothing played)."""
        width = frame_bytes(self.sample_rate)
        total = max(0, round((end - start) / 0.02))
        out = bytearray(total * width)
        for at, frame in self.played:
            index = round((at - start) / 0.02)
            if 0 <= index < total:
                out[index * width : (index + 1) * width] = frame
        return bytes(out)


class HandshakeRefused(Exception):
    """The orchestrator answered the WebSocket handshake with an HTTP error (401, 403)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"the orchestrator refused the connection: HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


class ClientOptions(TypedDict, total=False):
    """How a client opens a conversation (every client, every transport)."""

    input_sample_rate: int  # default 16000
    output_sample_rate: int  # default 24000
    model_id: str  # "" = the orchestrator's default voice
    voice: str
    open_timeout: float  # seconds; default 10
    token: str | None  # default VOICECTL_ORCHESTRATOR_TOKEN (a bearer token)
    livekit: LiveKitCredentials  # livekit://: what signs its token (default LIVEKIT_API_*)


class ConversationClient:
    """What every client keeps: its options, the events it received (stamped on
    arrival), the virtual speaker, and ``async with`` around ``connect``/``close``."""

    def __init__(self, url: str, **options: Unpack[ClientOptions]) -> None:
        self.url = url
        self.input_sample_rate = options.get("input_sample_rate", 16000)
        self.output_sample_rate = options.get("output_sample_rate", 24000)
        self.model_id = options.get("model_id", "")
        self.voice = options.get("voice", "")
        self.open_timeout = options.get("open_timeout", 10.0)
        token = options.get("token")
        self.token = token if token is not None else os.environ.get(ORCHESTRATOR_TOKEN_ENV) or None
        self.session_id = ""
        self.audio_frames = 0
        self.playback = PlaybackBuffer(self.output_sample_rate)
        self.events: list[Received[ev.ServerEvent]] = []
        self.on_event: Callable[[Received[ev.ServerEvent]], None] | None = None
        self._changed = asyncio.Event()
        self.closed = asyncio.Event()

    async def connect(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.close()

    async def send_text(self, text: str) -> None:
        await self.send_event(ev.Text(text))

    async def send_event(self, event: ev.ClientEvent) -> None:
        await self.send_raw(ev.to_json(event))

    async def send_raw(self, message: str) -> None:
        """Send one text message as it is, valid or not (error tests, fuzzing)."""
        raise NotImplementedError

    def receive_event(self, raw: str | bytes) -> ev.ServerEvent | None:
        """Parse one text message from the server and keep it; None (logged) for one
        this client does not know: a newer server's event must not end the session."""
        try:
            event = ev.parse_server_event(raw if isinstance(raw, str) else raw.decode())
        except (ev.EventError, UnicodeDecodeError) as exc:
            log.warning("ignored a server message: %s", exc)
            return None
        self.on_server_event(event)
        self.record(event)
        return event

    def on_server_event(self, event: ev.ServerEvent) -> None:
        """What the virtual speaker does with ``event`` before it is recorded."""
        if isinstance(event, ev.Clear):
            self.playback.clear(event.played_frames)
        elif isinstance(event, ev.ReplyStarted):
            self.playback.start_reply()

    def record(self, event: ev.ServerEvent) -> None:
        """Keep ``event`` stamped with its arrival and the audio frames before it."""
        received = Received(event, time.perf_counter(), self.audio_frames)
        self.events.append(received)
        if self.on_event is not None:
            self.on_event(received)
        self._changed.set()

    def received(self, kind: type[E]) -> list[Received[E]]:
        """Every event of ``kind`` so far, in arrival order."""
        return of_kind(self.events, kind)

    def server_events(self) -> list[ev.ServerEvent]:
        """The events so far without their stamps (what talk/transcripts.py reads)."""
        return [r.event for r in self.events]

    def count(self, kind: type[ev.ServerEvent]) -> int:
        return sum(1 for r in self.events if isinstance(r.event, kind))

    async def wait_for(self, kind: type[E], *, timeout: float, after: int = 0) -> Received[E]:
        """Wait for the ``after``-th (0-based) event of ``kind``."""
        async with asyncio.timeout(timeout):
            while True:
                matches = self.received(kind)
                if len(matches) > after:
                    return matches[after]
                if self.closed.is_set():
                    name = kind.__name__
                    raise ConnectionError(f"connection closed before {name} arrived")
                self._changed.clear()
                await self._changed.wait()


class TalkClient(ConversationClient):
    """``async with TalkClient(url) as talk: await talk.send_text("hi")``."""

    def __init__(self, url: str, **options: Unpack[ClientOptions]) -> None:
        super().__init__(url, **options)
        self._connection: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        try:
            tls = client_context() if self.url.startswith("wss:") else None
            extra: dict[str, Any] = {} if tls is None else {"ssl": tls}  # VOICECTL_ORCHESTRATOR_CA
            self._connection = await connect(
                self.url, max_size=2**20, compression=None, open_timeout=self.open_timeout,
                additional_headers=headers, **extra,
            )  # fmt: skip
        except InvalidStatus as exc:
            response = exc.response
            reason = response.body.decode(errors="replace").strip() if response.body else ""
            raise HandshakeRefused(response.status_code, reason) from None
        except TimeoutError:
            raise ConnectionError(
                f"{self.url} accepted the connection but did not answer the WebSocket "
                f"handshake within {self.open_timeout:g} s"
            ) from None
        start = ev.Start(
            input_sample_rate=self.input_sample_rate,
            output_sample_rate=self.output_sample_rate,
            model_id=self.model_id,
            voice=self.voice,
        )
        await self._connection.send(ev.to_json(start))
        self._reader = asyncio.create_task(self._read())
        started = await self.wait_for(ev.Started, timeout=30)
        self.session_id = started.event.session_id

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def send_audio(self, pcm: bytes) -> None:
        assert self._connection is not None
        await self._connection.send(pcm)

    async def send_raw(self, message: str) -> None:
        assert self._connection is not None
        await self._connection.send(message)

    async def _read(self) -> None:
        assert self._connection is not None
        try:
            async for message in self._connection:
                if isinstance(message, bytes):
                    self.audio_frames += 1
                    self.playback.receive(message)
                    self._changed.set()
                    continue
                self.receive_event(message)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self._changed.set()
