"""What a media transport's client sent, queued for the session in arrival order.

The WebRTC and LiveKit transports receive in callbacks (a track's frames, a data
channel's or a room's messages) while the session reads ``messages()`` in its own time.
The queue is bounded: a session that stops reading has audio dropped and counted, not
grown. Bad messages are judged by the same window as on a WebSocket (answer, drop or
close), and the end marker always gets in, so the session sees the client leave.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from voicectl.orchestrator.transport import BadInput, Inbound
from voicectl.orchestrator.transports.websocket import TOO_MANY_BAD, BadMessageWindow

# The session reads in real time; this much backlog (10 s of 20 ms frames) means it is
# stuck, and further input is dropped rather than grown.
MAX_QUEUED_INBOUND = 500


class Inbox:
    def __init__(self, hang_up: Callable[[str], None], limit: int = MAX_QUEUED_INBOUND) -> None:
        """``hang_up(reason)`` ends the connection when a client floods bad messages."""
        self._queue: asyncio.Queue[Inbound | None] = asyncio.Queue(limit)
        self._hang_up = hang_up
        self._bad = BadMessageWindow()
        self.closed = False
        self.dropped = 0

    def put(self, message: Inbound) -> None:
        """Queue ``message``; when full it is dropped and counted."""
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1

    def received(self, message: Inbound) -> None:
        """A client message: queued, or (a bad one past its allowance) dropped or hung up."""
        verdict = self._bad.judge() if isinstance(message, BadInput) else "answer"
        if verdict == "close":
            self._hang_up(TOO_MANY_BAD)
        elif verdict == "answer":
            self.put(message)

    def end(self) -> bool:
        """The client is gone: ``messages`` ends after what came before. False if it
        had ended already."""
        if self.closed:
            return False
        self.closed = True
        if self._queue.full():  # make room for the end marker: it must arrive
            self._queue.get_nowait()
        self._queue.put_nowait(None)
        return True

    async def messages(self) -> AsyncIterator[Inbound]:
        while (message := await self._queue.get()) is not None:
            yield message
