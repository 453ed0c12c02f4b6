"""The I/O half of ending the user's turn: the speculative transcript and the pause timer.

``turns.Endpointer`` decides how long a pause must last; this class feeds it (the
words up to the pause, from the speculative final transcript) and runs the timer
that ends the turn on the event loop, so a turn ends even if the client stops
sending audio in the middle of a pause.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from voicectl.orchestrator.asr import UtteranceTranscriber
from voicectl.orchestrator.turns import Endpointer, EndpointingConfig

log = logging.getLogger(__name__)


class UserTurn:
    """Pauses of the turn the user holds; ``on_end(last_word_at)`` fires when one ends the
    turn, with the time the pause began."""

    def __init__(
        self,
        *,
        transcriber: UtteranceTranscriber,
        endpointing: EndpointingConfig,
        speculate_after_frames: int,
        on_end: Callable[[float], None],
    ) -> None:
        self._transcriber = transcriber
        self._endpointer = Endpointer(endpointing)
        self._speculate_after = speculate_after_frames
        self._on_end = on_end
        self._timer: asyncio.TimerHandle | None = None
        self._silent_run = 0
        self._ended_turn_longest_s = 0.0  # of the turn that ended last, for a continuation

    @property
    def pausing(self) -> bool:
        return self._endpointer.pausing

    def track(self, *, holding_turn: bool, in_speech: bool, frame_is_speech: bool) -> None:
        """Per frame: start the final transcript after a short silence (hidden behind the
        rest of the pause), drop it if speech returns."""
        if not holding_turn or not (in_speech or self.pausing):
            self._silent_run = 0
            return
        if frame_is_speech:
            if self._silent_run >= self._speculate_after:
                self._transcriber.drop_speculation()
            self._silent_run = 0
            return
        self._silent_run += 1
        if self._silent_run == self._speculate_after:
            self._transcriber.speculate()

    def pause(self, *, started_at: float) -> None:
        """The VAD heard the user stop (``started_at``: perf_counter of the first silent frame)."""
        self._endpointer.pause(started_at=started_at)
        self._transcriber.speculate()  # no-op when one is already running
        words = self._transcriber.speculation
        if words is not None:
            if words.done():
                self._heard(words)
            else:
                words.add_done_callback(self._heard)
        self._schedule()

    def resume(self, *, at: float) -> None:
        """The user spoke again: the pause was inside the turn."""
        self._cancel()
        started = self._endpointer.pause_started
        if started is not None:
            log.debug("user resumed after a %.2f s pause", at - started)
        self._endpointer.resume(at=at)

    def carry_on(self, *, paused_s: float) -> None:
        """The user carried on the turn that just ended after ``paused_s`` of silence."""
        self._endpointer.carry_on(paused_s=max(paused_s, self._ended_turn_longest_s))

    def reset(self) -> None:
        """The turn is over (ended, or taken over by text input): forget its pauses."""
        self._cancel()
        self._endpointer.reset()
        self._silent_run = 0

    def _heard(self, words: asyncio.Future[str]) -> None:
        stale = words is not self._transcriber.speculation or not self.pausing
        if stale or words.cancelled() or words.exception() is not None:
            return
        self._endpointer.heard(words.result())
        log.debug("pause after %r: the turn ends after %.2f s of silence", words.result(),
                  self._endpointer.delay_s())  # fmt: skip
        self._schedule()

    def _schedule(self) -> None:
        self._cancel()
        deadline = self._endpointer.deadline()
        if deadline is None:
            return
        delay = deadline - time.perf_counter()
        if delay <= 0:
            self._end()
        else:
            self._timer = asyncio.get_running_loop().call_later(delay, self._end)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _end(self) -> None:
        self._timer = None
        last_word_at = self._endpointer.pause_started
        self._ended_turn_longest_s = self._endpointer.longest_resumed_s
        self._endpointer.reset()
        if last_word_at is not None:
            self._on_end(last_word_at)
