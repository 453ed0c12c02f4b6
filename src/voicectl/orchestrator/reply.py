"""One reply in flight: the task that runs it, its pacer and its worker stream.

Keeping them in one object means "the current reply" is a single reference the
session swaps, instead of parallel fields kept in step by hand. Control sent to
the worker (PAUSE, RESUME) goes out in the order it was issued.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from voicectl.orchestrator.pacer import Pacer
from voicectl.orchestrator.tts import ReplyStream


class Reply:
    def __init__(self, *, reply_id: int, worker_session: str, pacer: Pacer) -> None:
        self.id = reply_id
        self.worker_session = worker_session  # the Synthesize session id on the worker
        self.pacer = pacer
        self.task: asyncio.Task[None] | None = None
        self.stream: ReplyStream | None = None
        self.detached = False  # stopped by the session: nothing more of it reaches the client
        self._control: asyncio.Future[None] | None = None

    def pause(self) -> int:
        """Stop sending at once, then PAUSE the worker; return frames taken back."""
        taken = self.pacer.pause()
        self._send(lambda stream: stream.pause())
        return taken

    def resume(self) -> None:
        self.pacer.resume()
        self._send(lambda stream: stream.resume())

    def _send(self, command: Callable[[ReplyStream], Awaitable[None]]) -> None:
        stream = self.stream
        if stream is None:
            return  # no worker stream yet: nothing generated to pause
        previous = self._control

        async def ordered() -> None:
            if previous is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await previous
            await command(stream)

        self._control = asyncio.ensure_future(ordered())

    async def cancel(self) -> None:
        """Drop queued audio, cancel the LLM stream and the Synthesize call (the worker
        frees its session) and any Control still in flight."""
        await self.pacer.stop()
        for task in (self.task, self._control):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
