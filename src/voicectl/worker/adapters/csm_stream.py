"""Audio codes from a running ``generate()`` to the event loop, and audio from codes.

CSM samples one frame of audio codes (one code per codebook, 80 ms of audio) per step;
``generate`` hands each frame to a streamer as it is sampled. ``FrameBridge`` is that
streamer: it passes the frames to an asyncio queue on the event loop and, when the
stream is stopped, raises inside ``generate`` at the next step (CSM's ``generate``
ignores stopping criteria other than max length, so a raise is the way to stop it).

Decoding: Mimi's decoder is causal, so decoding a prefix of the codes gives exactly the
first samples of decoding all of them. Each chunk decodes every code of the segment so
far and keeps the samples past what was already yielded: the chunks join with no seam
and add up to what stock ``generate(output_audio=True)`` returns (a test checks both).
Chunks grow (``chunk_frames``) so the first audio waits for two frames while the
re-decoding stays a small multiple of one decode.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, Final

import numpy as np

from voicectl.worker.adapters.base import CancelToken, SynthesisCancelled

END: Final = object()  # put on the queue when generate returns or raises


def chunk_frames(decoded: int, *, first: int, most: int) -> int:
    """How many new frames the next decode waits for, ``decoded`` frames in.

    ``first`` for the first chunk (first-audio latency), then as many as are already
    decoded (doubling: the re-decoded prefix stays a bounded multiple of the audio),
    capped at ``most``.
    """
    if decoded == 0:
        return first
    return max(first, min(most, decoded))


def is_end_frame(codes: np.ndarray[Any, Any], eos: int) -> bool:
    """The frame where stock CSM cuts its audio: every codebook is the end code."""
    return bool((codes == eos).all())


class FrameBridge:
    """A ``generate`` streamer: frames to ``queue`` on ``loop``; raises once stopped.

    Duck-types transformers' ``BaseStreamer`` (``put``, ``end``). The first ``put`` is
    the prompt's token ids, which ``generate`` always sends before sampling: skipped.
    """

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[object],
        cancel: CancelToken,
    ) -> None:
        self._loop = loop
        self._queue = queue
        self._cancel = cancel
        self._prompt_seen = False
        self.closed = threading.Event()
        """Set by the consumer when it stops reading (stream closed or stopped)."""

    @property
    def stopped(self) -> bool:
        """The stream was stopped or its reader left: generation should end now."""
        return self._cancel.cancelled or self.closed.is_set()

    def put(self, value: Any) -> None:
        if self.stopped:
            raise SynthesisCancelled
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        frame = np.asarray(value.detach().cpu().numpy()[0], dtype=np.int64)
        self._loop.call_soon_threadsafe(self._queue.put_nowait, frame)

    def end(self) -> None:
        """Called by ``generate`` when sampling ends; ``finish`` sends the end marker."""

    def finish(self) -> None:
        """Tell the consumer that ``generate`` has returned or raised (from its thread)."""
        # The loop may close between a check and the call: nobody reads then anyway.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, END)
