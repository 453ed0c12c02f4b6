"""A reply's text, kept so a new worker can be given all of it again after a failover."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import suppress

from voicectl.rpc.client import TextSource


class TextLog:
    """Every text chunk of a reply, replayable from the start while more arrives."""

    def __init__(self, source: TextSource) -> None:
        self._source = source
        self.chunks: list[str] = []
        self.closed = False
        self._grew = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._pump is None:
            self._pump = asyncio.create_task(self._read(), name="reply-text")

    async def _read(self) -> None:
        try:
            if isinstance(self._source, str):
                self.chunks.append(self._source)
            elif isinstance(self._source, AsyncIterable):
                async for chunk in self._source:
                    self.chunks.append(chunk)
                    self._grew.set()
            else:
                self.chunks.extend(self._source)
        finally:
            self.closed = True
            self._grew.set()

    async def replay(self) -> AsyncIterator[str]:
        index = 0
        while True:
            while index < len(self.chunks):
                yield self.chunks[index]
                index += 1
            if self.closed:
                return
            self._grew.clear()
            if index == len(self.chunks) and not self.closed:
                await self._grew.wait()

    async def close(self) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
            with suppress(asyncio.CancelledError):
                await self._pump
