"""When a worker's silence on a Synthesize stream is a fault, and when it is not.

A worker owes audio once it has text: the first frame within ``first_frame`` seconds
(a model load included), then each next frame within ``stall`` seconds. The wait
counts from the latest thing that happened on the stream: the call's start, a
resume, a text chunk arriving, a frame. It does not count while the reply is paused
(a paused worker sends nothing), nor while the worker has answered all the text it
was given and more is still being written: then the text's source (the LLM) is the
slow one, and its own timeouts bound that wait. So a slow LLM, a pause or a slow but
steady worker is never a dead worker, and one that accepts the stream and never
answers (or a port that never speaks HTTP/2) is found within those seconds.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from voicectl.rpc.client import TextSource
from voicectl.rpc.v1 import tts_pb2 as pb

FIRST_FRAME_TIMEOUT_S = 60.0  # includes a model load on the worker
STALL_TIMEOUT_S = 10.0
CONTROL_TIMEOUT_S = 2.0  # a PAUSE/RESUME/STOP is a lookup on the worker, not work


@dataclass(frozen=True, kw_only=True)
class FrameTimeouts:
    """Seconds a worker may stay silent while it owes audio; None waits forever."""

    first_frame: float | None = FIRST_FRAME_TIMEOUT_S
    stall: float | None = STALL_TIMEOUT_S
    control: float = CONTROL_TIMEOUT_S  # one Control command, its retries included

    def __post_init__(self) -> None:
        for name in ("first_frame", "stall", "control"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"FrameTimeouts.{name} must be > 0 seconds, got {value!r}")


class WorkerSilent(TimeoutError):
    """The worker owed audio and sent nothing for too long."""


class FrameWatch:
    """The clock of one reply's frames; ``next_frame`` raises ``WorkerSilent``."""

    def __init__(self, timeouts: FrameTimeouts) -> None:
        self.timeouts = timeouts
        self.playing = asyncio.Event()  # cleared while the reply is paused
        self.playing.set()
        self._wake = asyncio.Event()  # something happened: work the deadline out again
        self._text_at = -math.inf  # when the latest text chunk arrived
        self._text_done = False
        self._since = time.monotonic()  # the call's start, or the latest resume
        self._frame_at = -math.inf
        self._frames = 0  # on this call
        self.text_error: Exception | None = None  # what the text's source raised

    async def text(self, source: TextSource) -> AsyncIterator[str]:
        """``source`` as it is, noting when each chunk arrives and when it ends. An error
        of the source is kept, for ``next_frame`` to raise: read by a background task
        (TextLog), it would otherwise be lost."""
        try:
            if isinstance(source, str):
                self._noted()
                yield source
            elif isinstance(source, AsyncIterable):
                async for chunk in source:
                    self._noted()
                    yield chunk
            else:
                for chunk in source:
                    self._noted()
                    yield chunk
        except Exception as exc:
            self.text_error = exc
        finally:
            self._text_done = True
            self._wake.set()

    def _noted(self) -> None:
        self._text_at = time.monotonic()
        self._wake.set()

    def call_started(self) -> None:
        """A new Synthesize call (the first, or one after a failover) owes a first frame."""
        self._since = time.monotonic()
        self._frame_at = -math.inf
        self._frames = 0
        self._wake.set()

    def pause(self) -> None:
        self.playing.clear()
        self._wake.set()

    def resume(self) -> None:
        self._since = time.monotonic()
        self.playing.set()
        self._wake.set()

    def _limit(self) -> float | None:
        return self.timeouts.stall if self._frames else self.timeouts.first_frame

    def _left(self) -> float | None:
        """Seconds before the silence is a fault; None while it does not count."""
        limit = self._limit()
        if limit is None or not self.playing.is_set():
            return None
        if not self._text_done and self._text_at <= self._frame_at:
            return None  # everything given was answered: waiting on the text, not the worker
        return max(self._since, self._text_at, self._frame_at) + limit - time.monotonic()

    def _fault(self) -> str:
        if self._frames:
            return f"no frame for {self._limit():g} s (stall_timeout)"
        return f"no first frame within {self._limit():g} s (first_frame_timeout)"

    async def next_frame(self, frames: AsyncIterator[pb.AudioFrame]) -> pb.AudioFrame:
        """The next frame; ``WorkerSilent`` when the worker owed one for too long, the
        text source's error once it failed. StopAsyncIteration and the call's own errors
        pass through."""
        pending = asyncio.ensure_future(anext(frames))
        try:
            while True:
                self._wake.clear()
                if self.text_error is not None:
                    raise self.text_error
                left = self._left()
                if left is not None and left <= 0:
                    raise WorkerSilent(self._fault())
                woke = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait(
                        {pending, woke}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    woke.cancel()
                if pending.done():
                    frame = pending.result()
                    self._frame_at = time.monotonic()
                    self._frames += 1
                    return frame
        finally:
            if not pending.done():
                pending.cancel()
