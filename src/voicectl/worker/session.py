"""One Synthesize stream: text in, generation with bounded look-ahead, frames out.

The producer runs the adapter and the framer and fills a bounded frame buffer;
the emitter drains it. Control acts on the emitter directly (never queued behind
audio): PAUSE stops emission before the next frame, and because the buffer is
bounded the producer then blocks, which bounds look-ahead generation. RESUME
continues from the next unsent frame, so no sample is lost or repeated. STOP
cancels generation and ends the stream with a final frame.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import suppress
from dataclasses import dataclass

import grpc
import numpy as np

from voicectl.audio.framer import Framer
from voicectl.audio.frames import Int16Audio, pcm16_to_bytes, samples_per_frame
from voicectl.worker.adapters.base import (
    CancelToken,
    SynthesisCancelled,
    SynthesisOptions,
    TTSAdapter,
)
from voicectl.worker.errors import RequestError
from voicectl.worker.scheduler import generating, inference_deadline

log = logging.getLogger(__name__)


class StreamState(enum.Enum):
    STREAMING = "streaming"
    PAUSED = "paused"
    STOPPED = "stopped"


class EndReason(enum.Enum):
    COMPLETED = "completed"
    STOPPED = "stopped"


@dataclass(frozen=True, kw_only=True)
class OutFrame:
    """One 20 ms frame ready to send."""

    sequence: int
    sample_offset: int
    pcm: bytes
    final: bool
    end_reason: EndReason | None


@dataclass(frozen=True, kw_only=True)
class SessionParams:
    session_id: str
    model_id: str
    voice: str
    sample_rate: int
    options: SynthesisOptions
    target_dbfs: float
    lookahead_frames: int


class SynthesisSession:
    """State of one stream, shared by the Synthesize handler and Control."""

    def __init__(self, *, params: SessionParams, adapter: TTSAdapter) -> None:
        self.params = params
        self.session_id = params.session_id
        self._adapter = adapter
        self._framer = Framer(
            input_rate=adapter.native_sample_rate,
            output_rate=params.sample_rate,
            target_dbfs=params.target_dbfs,
            source_dbfs=adapter.level_dbfs,
        )
        self._frame_samples = samples_per_frame(params.sample_rate)
        self._text: asyncio.Queue[str | None] = asyncio.Queue()
        self._buffer: deque[tuple[Int16Audio, bool]] = deque()
        self._wakeup = asyncio.Event()  # emitter: something changed
        self._space = asyncio.Event()  # producer: the buffer has room
        self._cancel = CancelToken()
        self._failure: BaseException | None = None
        self._producer: asyncio.Task[None] | None = None
        self.state = StreamState.STREAMING
        self.next_sequence = 0
        self.frames_generated = 0
        self.input_closed = False

    # ----------------------------------------------------------- text input side

    def feed_text(self, text: str) -> None:
        self._text.put_nowait(text)

    def end_input(self) -> None:
        if not self.input_closed:
            self.input_closed = True
            self._text.put_nowait(None)

    def fail(self, error: BaseException) -> None:
        """Abort the stream with ``error`` (bad input arrived after the stream started)."""
        if self._failure is None:
            self._failure = error
        self._cancel_generation()
        self._wakeup.set()

    # ---------------------------------------------------------------- control

    @property
    def next_sample_offset(self) -> int:
        return self.next_sequence * self._frame_samples

    def pause(self) -> None:
        if self.state is StreamState.STREAMING:
            self.state = StreamState.PAUSED

    def resume(self) -> None:
        if self.state is StreamState.PAUSED:
            self.state = StreamState.STREAMING
            self._wakeup.set()

    def stop(self) -> None:
        if self.state is not StreamState.STOPPED:
            self.state = StreamState.STOPPED
            self._cancel_generation()
            self._wakeup.set()

    # ------------------------------------------------------------------ output

    async def frames(self) -> AsyncGenerator[OutFrame, None]:
        """Emit frames until the text is spoken, STOP arrives, or the stream fails."""
        self._producer = asyncio.create_task(self._produce(), name=f"produce:{self.session_id}")
        try:
            while True:
                if self._failure is not None:
                    raise self._failure
                if self.state is StreamState.STOPPED:
                    yield self._make_frame(
                        np.zeros(self._frame_samples, np.int16), final=True, stopped=True
                    )
                    return
                if self.state is StreamState.STREAMING and self._buffer:
                    pcm, final = self._buffer.popleft()
                    self._space.set()
                    yield self._make_frame(pcm, final=final, stopped=False)
                    if final:
                        return
                    continue
                self._wakeup.clear()
                await self._wakeup.wait()
        finally:
            self._cancel_generation()
            if self._producer is not None:
                with suppress(asyncio.CancelledError, SynthesisCancelled):
                    await self._producer

    def _make_frame(self, pcm: Int16Audio, *, final: bool, stopped: bool) -> OutFrame:
        # Sequence advances before the frame is handed to gRPC, so a PAUSE reply's
        # next_sequence is exactly the first frame that will not be sent.
        frame = OutFrame(
            sequence=self.next_sequence,
            sample_offset=self.next_sample_offset,
            pcm=pcm16_to_bytes(pcm),
            final=final,
            end_reason=(EndReason.STOPPED if stopped else EndReason.COMPLETED) if final else None,
        )
        self.next_sequence += 1
        return frame

    # ---------------------------------------------------------------- producer

    async def _text_chunks(self) -> AsyncIterator[str]:
        while (chunk := await self._text.get()) is not None:
            yield chunk

    async def _produce(self) -> None:
        stream = self._adapter.stream(
            self._text_chunks(),
            voice=self.params.voice,
            options=self.params.options,
            cancel=self._cancel,
        )
        started = time.monotonic()
        frame_s = self._frame_samples / self.params.sample_rate
        try:
            # Earliest deadline first: the next chunk is needed when the client will have
            # played everything generated so far.
            inference_deadline.set(started)
            with generating():
                async for chunk in stream:
                    for pcm in self._framer.push(chunk):
                        await self._put(pcm, final=False)
                    inference_deadline.set(started + self.frames_generated * frame_s)
            tail = self._framer.flush()
            # The final frame always exists (silence if the audio ended on a frame
            # boundary), so "final" never depends on timing.
            if not tail:
                tail = [np.zeros(self._frame_samples, np.int16)]
            for index, pcm in enumerate(tail):
                await self._put(pcm, final=index == len(tail) - 1)
        except (asyncio.CancelledError, SynthesisCancelled):
            raise
        except Exception as exc:
            log.exception("session %s: synthesis failed", self.session_id)
            self.fail(
                RequestError(
                    grpc.StatusCode.INTERNAL,
                    f"model {self.params.model_id!r} failed while synthesizing: "
                    f"{type(exc).__name__}: {exc}",
                )
            )
        finally:
            try:
                await stream.aclose()
            except Exception:  # the stream's outcome is already decided; note the leak
                log.warning("session %s: closing the model's stream failed", self.session_id,
                            exc_info=True)  # fmt: skip

    async def _put(self, pcm: Int16Audio, *, final: bool) -> None:
        while len(self._buffer) >= self.params.lookahead_frames:
            self._space.clear()
            await self._space.wait()
        self._buffer.append((pcm, final))
        self.frames_generated += 1
        self._wakeup.set()

    def _cancel_generation(self) -> None:
        self._cancel.cancel()
        if self._producer is not None and not self._producer.done():
            self._producer.cancel()
        # Release a producer blocked on a full buffer.
        self._space.set()


class SessionTable:
    """Active sessions by id, shared by Synthesize and Control.

    An id is reserved as soon as the config arrives (so duplicates are refused at
    once) and attached to its session once the model is acquired.
    """

    def __init__(self) -> None:
        self._sessions: dict[str, SynthesisSession | None] = {}
        # Who opened each session (the gRPC peer: one client connection). Only that
        # connection may pause, resume or stop it: a session id is not a credential.
        self._owners: dict[str, str] = {}
        self.empty = asyncio.Event()
        self.empty.set()

    def reserve(self, session_id: str, owner: str = "") -> bool:
        if session_id in self._sessions:
            return False
        self._sessions[session_id] = None
        self._owners[session_id] = owner
        self.empty.clear()
        return True

    def owned_by(self, session_id: str, caller: str) -> bool:
        """Whether ``caller`` opened ``session_id`` (True for an id not in the table, so
        that the caller hears NOT_FOUND, as for any finished session)."""
        return self._owners.get(session_id, caller) == caller

    def attach(self, session: SynthesisSession) -> None:
        self._sessions[session.session_id] = session

    def release(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        self._owners.pop(session_id, None)
        if not self._sessions:
            self.empty.set()

    def get(self, session_id: str) -> SynthesisSession | None:
        return self._sessions.get(session_id)

    def sessions(self) -> list[SynthesisSession]:
        return [s for s in self._sessions.values() if s is not None]

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions
