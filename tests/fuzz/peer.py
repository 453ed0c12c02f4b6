"""A raw WebSocket client for the fuzz suite: sends anything, records everything it gets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.fuzz.ws_cases import Msg

WAIT_S = 10.0  # for one expected event: a generous "never hangs"


class Peer:
    """One connection; ``events`` (JSON) and ``frames`` (binary sizes) in arrival order."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.events: list[dict[str, Any]] = []
        self.frames: list[int] = []
        self.order: list[str] = []  # event types and "audio", interleaved as received
        self.close_code: int | None = None
        self.close_reason = ""
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @asynccontextmanager
    async def opened(cls, address: str) -> AsyncIterator[Peer]:
        """Connected; closed at the end even when a check failed, so that a failing
        example leaves no session behind to fail every example after it."""
        peer = cls(await connect(address, max_size=None, compression=None))
        try:
            yield peer
        finally:
            await peer.close()

    async def send(self, msg: Msg) -> None:
        """Send one message; the server may already have closed (that is checked later)."""
        with suppress(ConnectionClosed):
            if msg.as_text:
                assert isinstance(msg.data, bytes)
                await self.connection.send(msg.data, text=True)
            else:
                await self.connection.send(msg.data)

    async def send_json(self, message: dict[str, object]) -> None:
        await self.send(Msg(json.dumps(message)))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    async def wait(self, what: str, ready: Callable[[], bool]) -> None:
        try:
            async with asyncio.timeout(WAIT_S):
                while not ready():
                    if self._reader.done():
                        raise AssertionError(f"closed ({self.close_code}) before {what}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"no {what} within {WAIT_S:g} s: {self.order[-10:]}") from None

    async def closed(self) -> int | None:
        """Wait for the server to close; its close code."""
        await self.wait("close", self._reader.done)
        return self.close_code

    async def close(self) -> None:
        await self.connection.close()
        await asyncio.wait_for(self._reader, WAIT_S)

    async def _read(self) -> None:
        try:
            async for message in self.connection:
                if isinstance(message, bytes):
                    self.frames.append(len(message))
                    self.order.append("audio")
                else:
                    event = json.loads(message)
                    self.events.append(event)
                    self.order.append(str(event.get("type")))
                self._changed.set()
        except ConnectionClosed:
            pass  # a close with an error code; 1000 ends the loop without one
        finally:
            received = self.connection.protocol.close_rcvd
            if received is not None:
                self.close_code, self.close_reason = received.code, received.reason
            self._changed.set()
