"""Route a reply to a worker and keep it going when that worker dies mid-stream.

``RoutedSynthesizer.stream(text, request)`` picks a worker (registry + Router
policy + the caller's own in-flight counts), streams the reply, and when the
worker fails (connection lost, UNAVAILABLE/INTERNAL/..., silent while it owes audio:
no first frame within ``timeouts.first_frame`` or no next one within ``timeouts.stall``,
see rpc/frame_watch.py; or a stream that ends without its final frame) it re-routes:

**Guarantee.** The new worker re-synthesizes the whole reply text received so
far (and whatever text still arrives), and frames whose samples were already
delivered are skipped (a straddling frame is trimmed). For deterministic models
(mock, Piper: the same text gives the same samples) the output therefore
continues at the next unsent sample with no sample lost or repeated, bit-exact.
For a non-deterministic model the continuation is a different rendering of the
same text, so up to the current sentence may sound repeated or cut. Frames keep
the reply's own continuous sequence numbers and sample offsets.

The caller is told through ``on_failover`` (and ``RoutedStream.failovers``), not
with an exception; ``NoWorkerAvailable`` is raised only when no live worker is
left (or after ``max_failovers``). Errors about the request itself (bad text,
unknown model) are raised as the worker's ``grpc.aio.AioRpcError``, unretried; so is an
INTERNAL/UNKNOWN that a second worker answers word for word like the first (a reply
that breaks any worker's model), and the first worker goes back into rotation: one
reply can never take every healthy worker out.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, replace
from enum import Enum

import grpc

from voicectl.registry.base import Registry, WorkerRecord
from voicectl.registry.routing import RouteDecision, Router
from voicectl.registry.textlog import TextLog
from voicectl.rpc.client import SynthesisRequest, TextSource, TTSClient
from voicectl.rpc.frame_watch import FrameTimeouts, FrameWatch, WorkerSilent
from voicectl.rpc.v1 import tts_pb2 as pb

log = logging.getLogger(__name__)

# Status codes that say "this worker", not "this request", failed.
FAILOVER_CODES = frozenset({
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
})  # fmt: skip


# Faults of the worker's own code: the same one from two workers for one reply is the
# reply's text or model, not the workers (transport codes are always the worker's).
REQUEST_SUSPECT_CODES = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})


class NoWorkerAvailable(RuntimeError):
    """No live worker is left to route to."""


@dataclass(frozen=True, kw_only=True)
class FailoverEvent:
    session_id: str
    from_worker: str
    to_worker: str
    reason: str
    resumed_at_sample: int  # first sample the new worker delivers
    failover: int  # 1 for the first failover of this reply


class RoutedSynthesizer:
    """Routes streams over the workers of a registry; one per orchestrator process."""

    def __init__(
        self,
        registry: Registry,
        *,
        router: Router | None = None,
        timeouts: FrameTimeouts | None = None,
        max_failovers: int = 3,
        suspect_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.router = router or Router()
        self.timeouts = timeouts or FrameTimeouts()  # silent workers; Control's deadline
        self.max_failovers = max_failovers
        self.suspect_seconds = suspect_seconds
        self._clock = clock
        self._clients: dict[str, TTSClient] = {}
        self.inflight: Counter[str] = Counter()
        # worker id -> (its last heartbeat when it failed, suspect until)
        self._suspects: dict[str, tuple[float, float]] = {}

    async def pick(
        self, *, model_id: str = "", session_key: str = "", exclude: frozenset[str] = frozenset()
    ) -> RouteDecision:
        """Route one stream; NoWorkerAvailable when no live, unsuspected worker is left."""
        records = await self.registry.list_workers()
        skip = exclude | {r.worker_id for r in records if self._suspected(r)}
        decision = self.router.route(
            records,
            model_id=model_id,
            session_key=session_key,
            local_load=self.inflight,
            exclude=frozenset(skip),
        )
        if decision is None:
            live = ", ".join(r.worker_id for r in records) or "none registered"
            excluded = ", ".join(sorted(skip)) or "-"
            raise NoWorkerAvailable(
                f"no worker available for {model_id or 'the default model'} "
                f"(live: {live}; excluded: {excluded})"
            )
        log.info("routed %s to %s (%s, load %d)", session_key or "stream",
                 decision.worker.worker_id, decision.reason, decision.load)  # fmt: skip
        return decision

    def _suspected(self, record: WorkerRecord) -> bool:
        """A failed worker stays out until it heartbeats again or ``suspect_seconds`` pass."""
        found = self._suspects.get(record.worker_id)
        if found is None:
            return False
        heartbeat, until = found
        if record.last_heartbeat > heartbeat or self._clock() >= until:
            del self._suspects[record.worker_id]
            return False
        return True

    def forgive(self, record: WorkerRecord) -> None:
        """The failure was the request's: the worker goes back into rotation."""
        self._suspects.pop(record.worker_id, None)

    def mark_failed(self, record: WorkerRecord) -> None:
        self._suspects[record.worker_id] = (
            record.last_heartbeat,
            self._clock() + self.suspect_seconds,
        )
        self.router.worker_failed(record.worker_id)

    def client(self, record: WorkerRecord) -> TTSClient:
        found = self._clients.get(record.address)
        if found is None:
            found = self._clients[record.address] = TTSClient(record.address)
        return found

    def stream(
        self,
        text: TextSource,
        request: SynthesisRequest | None = None,
        *,
        session_key: str = "",
        on_failover: Callable[[FailoverEvent], None] | None = None,
    ) -> RoutedStream:
        """A reply routed to a worker; iterate it for frames. ``session_key`` (e.g. the
        conversation id) keeps a conversation on one worker while that worker lives."""
        return RoutedStream(self, text, request or SynthesisRequest(), session_key, on_failover)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


class ReplyState(Enum):
    """Where a routed reply is; it only moves forward."""

    STREAMING = "streaming"  # frames flow, or a worker is being picked
    STOPPING = "stopping"  # stop() was called: the worker's end of the stream is awaited
    ENDED = "ended"  # the final frame was delivered, or the stopped stream ended


class RoutedStream:
    """One reply: ``async for frame in stream``; ``pause()``/``resume()``/``stop()``."""

    def __init__(
        self,
        synth: RoutedSynthesizer,
        text: TextSource,
        request: SynthesisRequest,
        session_key: str,
        on_failover: Callable[[FailoverEvent], None] | None,
    ) -> None:
        self.synth = synth
        session_id = request.session_id or f"r-{uuid.uuid4().hex[:12]}"
        self.request = replace(request, session_id=session_id)
        self.session_id = session_id
        self.session_key = session_key
        self.on_failover = on_failover
        self.worker: WorkerRecord | None = None
        self.failovers: list[FailoverEvent] = []
        self.delivered_samples = 0
        self._sequence = 0
        self.watch = FrameWatch(synth.timeouts)
        self.text = TextLog(self.watch.text(text))
        self._playing = self.watch.playing
        self.state = ReplyState.STREAMING
        self._reason = ""  # why the last attempt failed
        self._error: grpc.aio.AioRpcError | None = None  # the gRPC error of that attempt
        self._call: grpc.aio.StreamStreamCall[pb.SynthesizeRequest, pb.AudioFrame] | None = None

    def __aiter__(self) -> AsyncIterator[pb.AudioFrame]:
        return self._run()

    # ---------------------------------------------------------------- control

    async def pause(self) -> None:
        """Hold frames here at once, and bound generation on the worker."""
        self.watch.pause()
        await self._forward(pb.PAUSE)

    async def resume(self) -> None:
        await self._forward(pb.RESUME)
        self.watch.resume()

    async def stop(self) -> None:
        if self.state is ReplyState.STREAMING:
            self.state = ReplyState.STOPPING
        self._playing.set()
        if not await self._forward(pb.STOP) and self._call is not None:
            self._call.cancel()

    async def _forward(self, command: pb.ControlCommand.ValueType) -> bool:
        """Best effort, within ``timeouts.control``: the local gate is what the caller
        relies on, and a hung worker must not hold a resume (or a stop) forever."""
        if self.worker is None:
            return False
        try:
            async with asyncio.timeout(self.synth.timeouts.control):
                await self.synth.client(self.worker).control(self.session_id, command)
            return True
        except grpc.aio.AioRpcError as exc:
            log.debug("control %s on %s failed: %s", command, self.worker.worker_id, exc.code())
        except TimeoutError:
            log.warning("control %s on %s: no answer within %g s", command,
                        self.worker.worker_id, self.synth.timeouts.control)  # fmt: skip
        return False

    # ----------------------------------------------------------------- frames

    async def _run(self) -> AsyncIterator[pb.AudioFrame]:
        synth = self.synth
        self.text.start()
        excluded: set[str] = set()
        reason = ""
        first_fault: tuple[WorkerRecord, tuple[object, str]] | None = None
        try:
            while True:
                decision = await synth.pick(
                    model_id=self.request.model_id,
                    session_key=self.session_key,
                    exclude=frozenset(excluded),
                )
                failed = self.worker
                self.worker = decision.worker
                if failed is not None:
                    self._announce(failed, decision.worker, reason)
                async with aclosing(self._attempt(decision.worker)) as frames:
                    async for frame in frames:
                        yield frame
                if self.state is not ReplyState.STREAMING:
                    # Ended, or stopped: a stopped reply never fails over to another worker,
                    # however its stream ended (silence, no final frame).
                    self.state = ReplyState.ENDED
                    return
                reason = self._reason
                error = self._error
                fault = None
                if error is not None and error.code() in REQUEST_SUSPECT_CODES:
                    fault = (error.code(), error.details() or "")
                if error is not None and first_fault is not None and first_fault[1] == fault:
                    # Two workers, one error: this reply breaks them, not they the reply.
                    synth.forgive(first_fault[0])
                    log.warning("reply %s: the same error on two workers, kept in rotation: "
                                "%s", self.session_id, reason)  # fmt: skip
                    raise error
                if fault is not None and first_fault is None:
                    first_fault = (decision.worker, fault)
                log.warning("worker %s failed mid-reply %s: %s", decision.worker.worker_id,
                            self.session_id, reason)  # fmt: skip
                synth.mark_failed(decision.worker)
                excluded.add(decision.worker.worker_id)
                if len(self.failovers) >= synth.max_failovers:
                    raise NoWorkerAvailable(
                        f"reply {self.session_id} failed on {len(excluded)} workers: {reason}"
                    )
        finally:
            await self.text.close()

    def _announce(self, failed: WorkerRecord, to: WorkerRecord, reason: str) -> None:
        event = FailoverEvent(
            session_id=self.session_id,
            from_worker=failed.worker_id,
            to_worker=to.worker_id,
            reason=reason,
            resumed_at_sample=self.delivered_samples,
            failover=len(self.failovers) + 1,
        )
        self.failovers.append(event)
        log.info("failover of %s: %s -> %s at sample %d (%s)", event.session_id,
                 event.from_worker, event.to_worker, event.resumed_at_sample, reason)  # fmt: skip
        if self.on_failover is not None:
            self.on_failover(event)

    async def _attempt(self, worker: WorkerRecord) -> AsyncGenerator[pb.AudioFrame, None]:
        """Stream from one worker; ENDED on a final frame (or a stopped call's end), else
        ``_reason`` says why the attempt failed."""
        synth = self.synth
        self._error = None
        synth.inflight[worker.worker_id] += 1
        call = synth.client(worker).synthesize(self.text.replay(), self.request)
        self._call = call
        self.watch.call_started()
        frames = call.__aiter__()
        try:
            while True:
                try:
                    frame = await self.watch.next_frame(frames)
                except StopAsyncIteration:
                    self._reason = "stream ended without a final frame"
                    return
                except WorkerSilent as exc:
                    self._reason = str(exc)
                    return
                except grpc.aio.AioRpcError as exc:
                    if self.state is ReplyState.STOPPING:
                        self.state = ReplyState.ENDED
                        return
                    if exc.code() not in FAILOVER_CODES:
                        raise
                    self._reason = f"{exc.code().name}: {exc.details()}"
                    self._error = exc
                    return
                out = self._continue(frame)
                if out is None:
                    continue
                await self._playing.wait()
                yield out
                if out.final:
                    self.state = ReplyState.ENDED
                    return
        finally:
            synth.inflight[worker.worker_id] -= 1
            if synth.inflight[worker.worker_id] <= 0:
                del synth.inflight[worker.worker_id]
            call.cancel()
            self._call = None

    def _continue(self, frame: pb.AudioFrame) -> pb.AudioFrame | None:
        """Drop samples already delivered; renumber what is new."""
        count = len(frame.pcm) // 2
        start, end = frame.sample_offset, frame.sample_offset + count
        if end <= self.delivered_samples:
            return None
        pcm = frame.pcm
        if start < self.delivered_samples:
            pcm = pcm[(self.delivered_samples - start) * 2 :]
            start = self.delivered_samples
        out = pb.AudioFrame()
        out.CopyFrom(frame)
        out.pcm = pcm
        out.sample_offset = start
        out.sequence = self._sequence
        out.session_id = self.session_id
        self._sequence += 1
        self.delivered_samples = end
        return out
