"""Real-time pacing of reply frames to the client, with a small look-ahead.

Frames are sent on absolute deadlines (``anchor + n * 20 ms - lookahead``), never
by accumulating sleeps, so timing errors do not add up. The pacer knows when each
sent frame will play at the client; on ``pause()`` it takes back the frames the
client has received but not yet played (the client flushes them on ``clear``), so
``resume()`` continues at the first unheard frame: nothing lost, nothing repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

FRAME_SECONDS = 0.02
# A frame later than its play time by more than this means the client ran dry.
UNDERRUN_SLACK = 0.005


@dataclass
class PacerStats:
    frames_sent: int = 0
    # Send time minus scheduled send time, seconds, for every frame (jitter analysis).
    lateness: list[float] = field(default_factory=list)
    underruns: int = 0
    # Index in the reply (frames delivered, take-backs excluded) of each underrun.
    underrun_frames: list[int] = field(default_factory=list)
    frames_taken_back: int = 0
    collected: bool = False  # already added to the session's metrics


class Pacer:
    """Sends queued frames at real time; one per reply, driven by the session."""

    def __init__(
        self,
        *,
        send: Callable[[bytes], None],
        lookahead_frames: int = 3,
        clock: Callable[[], float] | None = None,
        on_first_frame: Callable[[], None] | None = None,
    ) -> None:
        self._send = send
        self._lookahead = lookahead_frames
        self._clock = clock or asyncio.get_running_loop().time
        self._on_first_frame = on_first_frame
        self._queue: deque[bytes] = deque()
        # Sent frames with the time they start playing at the client.
        self._in_flight: deque[tuple[float, bytes]] = deque()
        self._anchor: float | None = None  # play time of frame index 0 since the last (re)start
        self._index = 0
        self._paused = False
        self._input_done = False
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stats = PacerStats()
        self.finished = asyncio.Event()

    # -------------------------------------------------------------- producer side

    def push(self, frame: bytes) -> None:
        self._queue.append(frame)
        self._wakeup.set()

    def end_of_input(self) -> None:
        self._input_done = True
        self._wakeup.set()

    # ----------------------------------------------------------------- control

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pacer")

    def pause(self) -> int:
        """Stop sending now; return how many sent-but-unplayed frames were taken back."""
        self._paused = True
        now = self._clock()
        taken: list[bytes] = []
        while self._in_flight and self._in_flight[-1][0] > now:
            taken.append(self._in_flight.pop()[1])
        self._queue.extendleft(taken)  # reversed pop order restores the original order
        self._in_flight.clear()
        self._anchor = None
        self.stats.frames_taken_back += len(taken)
        return len(taken)

    def resume(self) -> None:
        self._paused = False
        self._wakeup.set()

    async def stop(self) -> None:
        """Drop everything and end the pacer task."""
        self._queue.clear()
        self._in_flight.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.finished.set()

    @property
    def delivered_frames(self) -> int:
        """Frames the client has been sent and not been asked to drop (played or playing)."""
        return self.stats.frames_sent - self.stats.frames_taken_back

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def queued_frames(self) -> int:
        return len(self._queue)

    # ------------------------------------------------------------------- loop

    async def _run(self) -> None:
        while True:
            if not self._paused and self._queue:
                await self._send_next()
                continue
            if not self._paused and self._input_done and not self._queue:
                await self._wait_for_playout()
                if self._paused or self._queue:
                    continue  # a barge-in during the last frames took audio back
                self.finished.set()
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _send_next(self) -> None:
        now = self._clock()
        if (
            self._anchor is not None
            and self._anchor + self._index * FRAME_SECONDS < now - UNDERRUN_SLACK
        ):
            # The client's buffer ran dry before this frame existed: an underrun.
            self.stats.underruns += 1
            self.stats.underrun_frames.append(self.delivered_frames)
            self._anchor = None
        if self._anchor is None:
            # (Re)start: the first frame plays as soon as it arrives.
            self._anchor = now
            self._index = 0
        play_at = self._anchor + self._index * FRAME_SECONDS
        due = play_at - self._lookahead * FRAME_SECONDS
        if due > now:
            await asyncio.sleep(due - now)
            if self._paused or not self._queue:
                return  # paused (or stopped) while waiting: re-evaluate
            self.stats.lateness.append(self._clock() - due)
        elif self._index >= self._lookahead:
            self.stats.lateness.append(now - due)  # behind schedule (not the start-up burst)
        frame = self._queue.popleft()
        if self.stats.frames_sent == 0 and self._on_first_frame is not None:
            self._on_first_frame()  # announce the reply before its first frame
        self._send(frame)
        self._in_flight.append((play_at, frame))
        while len(self._in_flight) > self._lookahead + 2:
            self._in_flight.popleft()
        self._index += 1
        self.stats.frames_sent += 1

    async def _wait_for_playout(self) -> None:
        if self._anchor is None:
            return
        end = self._anchor + self._index * FRAME_SECONDS
        remaining = end - self._clock()
        if remaining > 0:
            await asyncio.sleep(remaining)
