"""A routed reply moves off a worker that hangs, and not off one that is merely slow.

A stand-in worker (tests/integration/faulty_workers.py: a gRPC server that never
answers, a TCP port that never speaks HTTP/2, a proxy that stalls mid-reply or never
answers Control) is advertised in a real Redis next to a real worker; its id sorts
first, so least-busy routing tries it first. A real orchestrator routes over them,
with its timeouts configured short, and a real client talks to it over its WebSocket.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import OrchestratorFactory, WorkerFactory
from tests.integration.faulty_workers import (
    HUNG,
    MODEL,
    RATE,
    REQUEST,
    TIMEOUTS,
    MuteListener,
    ProxyTTS,
    SilentTTS,
    reference,
    register_fake,
    reply_text,
    serving,
    ticking,
)
from tests.integration.registry.conftest import RedisServer, RegisteredFactory
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.tts import DirectTTS
from voicectl.registry.failover import FailoverEvent, RoutedSynthesizer
from voicectl.registry.redis_backend import RedisRegistry
from voicectl.registry.routing import Policy, Router, RoutingConfig
from voicectl.rpc.frame_watch import FrameTimeouts
from voicectl.talk.client import TalkClient
from voicectl.talk.user_audio import noise


async def routed(
    make_orchestrator: OrchestratorFactory, redis_server: RedisServer, prefix: str,
    timeouts: FrameTimeouts = TIMEOUTS,
) -> TalkClient:  # fmt: skip
    orchestrator = await make_orchestrator(
        "", redis=redis_server.url, registry_prefix=prefix, routing="least-busy",
        model_id=MODEL, tts_timeouts=timeouts,
    )  # fmt: skip
    return TalkClient(orchestrator.address, output_sample_rate=RATE)


@pytest.mark.parametrize("fault", ["never answers", "never speaks http2"])
async def test_a_routed_reply_moves_off_a_worker_that_never_answers(
    fault: str,
    redis_server: RedisServer,
    prefix: str,
    registry: RedisRegistry,
    make_registered: RegisteredFactory,
    make_orchestrator: OrchestratorFactory,
) -> None:
    healthy, registration = await make_registered()
    async with AsyncExitStack() as stack:
        if fault == "never answers":
            address = await stack.enter_async_context(serving(SilentTTS()))
        else:
            address = await stack.enter_async_context(MuteListener().serving())
        await register_fake(registry, "0-bad", address, MODEL)
        async with await routed(make_orchestrator, redis_server, prefix) as talk:
            await talk.send_text("hello there")
            failover = await talk.wait_for(ev.ReplyFailover, timeout=HUNG)
            await talk.wait_for(ev.ReplyDone, timeout=HUNG)
            heard = b"".join(talk.playback.replies[0])
    assert failover.event.from_worker == "0-bad"
    assert failover.event.to_worker == registration.settings.worker_id
    assert "no first frame within 1 s" in failover.event.reason
    assert talk.count(ev.Error) == 0
    assert heard == await reference(healthy.address, reply_text(talk))


async def test_a_routed_reply_continues_bit_exact_when_its_worker_stalls_mid_reply(
    redis_server: RedisServer,
    prefix: str,
    registry: RedisRegistry,
    make_worker: WorkerFactory,
    make_registered: RegisteredFactory,
    make_orchestrator: OrchestratorFactory,
) -> None:
    upstream = await make_worker()
    healthy, _ = await make_registered()
    stalls = ProxyTTS(upstream.address, hang_after=20)
    async with serving(stalls) as address:
        await register_fake(registry, "0-stalls", address, MODEL)
        async with await routed(make_orchestrator, redis_server, prefix) as talk:
            await talk.send_text("one two three four five six seven eight nine ten")
            failover = await talk.wait_for(ev.ReplyFailover, timeout=8)  # the default is 10
            await talk.wait_for(ev.ReplyDone, timeout=HUNG)
            heard = b"".join(talk.playback.replies[0])
    assert stalls.sent == 20
    assert failover.event.from_worker == "0-stalls"
    assert "no frame for 0.5 s" in failover.event.reason
    assert talk.count(ev.Error) == 0
    assert heard == await reference(healthy.address, reply_text(talk))


async def test_a_barge_in_on_a_worker_whose_control_hangs_does_not_hold_the_reply(
    redis_server: RedisServer,
    prefix: str,
    registry: RedisRegistry,
    make_worker: WorkerFactory,
    make_orchestrator: OrchestratorFactory,
) -> None:
    """A noise burst pauses the reply, then resumes it; the routed stream holds frames
    while paused, so a RESUME that never returned would hold them for ever."""
    upstream = await make_worker()
    proxy = ProxyTTS(upstream.address, frame_delay=0.02, hang_control=True)  # real time
    async with serving(proxy) as address:
        await register_fake(registry, "0-deaf", address, MODEL)
        short_control = replace(TIMEOUTS, control=0.5)
        async with await routed(make_orchestrator, redis_server, prefix, short_control) as talk:
            ticker = asyncio.create_task(ticking(talk))
            await talk.send_text("Counting slowly now: one, two, three, four, five, six.")
            await talk.wait_for(ev.ReplyStarted, timeout=HUNG)
            await asyncio.sleep(0.5)
            burst = np.concatenate([noise(100, level=0.3, sample_rate=RATE), np.zeros(RATE)])
            pcm = burst.astype("<i2").tobytes()
            for start in range(0, len(pcm), 640):  # 20 ms frames, in real time
                await talk.send_audio(pcm[start : start + 640])
                await asyncio.sleep(0.02)
            await talk.wait_for(ev.ReplyResumed, timeout=HUNG)
            await talk.wait_for(ev.ReplyDone, timeout=HUNG)
            ticker.cancel()
    assert proxy.controls >= 2  # PAUSE and RESUME reached it and were never answered
    assert talk.count(ev.Error) == 0
    assert talk.count(ev.ReplyFailover) == 0


async def pausing_text() -> AsyncIterator[str]:
    """An LLM that thinks for 1.5 s before its first words and between sentences."""
    await asyncio.sleep(1.5)
    yield "One two three. "
    await asyncio.sleep(1.5)
    yield "Four five six."


@pytest.mark.parametrize("backend", ["direct", "routed"])
async def test_silence_while_the_text_is_still_coming_is_not_a_dead_worker(
    backend: str, registry: RedisRegistry, make_registered: RegisteredFactory
) -> None:
    """first_frame_timeout 1 s and stall_timeout 0.5 s, both shorter than the LLM's
    pauses: the worker has answered all it was given, so it is not the slow one."""
    worker, _ = await make_registered()
    events: list[FailoverEvent] = []
    request = replace(REQUEST, session_id=f"slow-text.{backend}")
    if backend == "direct":
        tts = DirectTTS(worker.address, timeouts=TIMEOUTS)
        stream = tts.open(pausing_text(), request, session_key="", on_failover=events.append)
        frames = [frame async for frame in stream]
        await tts.close()
    else:
        router = Router(RoutingConfig(policy=Policy.LEAST_BUSY))
        synth = RoutedSynthesizer(registry, router=router, timeouts=TIMEOUTS)
        routed_stream = synth.stream(pausing_text(), request, on_failover=events.append)
        frames = [frame async for frame in routed_stream]
        await synth.close()
    assert events == []
    assert frames[-1].final
    pcm = b"".join(f.pcm for f in frames)
    assert pcm == await reference(worker.address, "One two three. Four five six.")


async def drain(frames: AsyncIterable[object]) -> None:
    async with asyncio.timeout(HUNG):
        async for _ in frames:
            pass


async def breaking_text() -> AsyncIterator[str]:
    yield "One two three. "
    await asyncio.sleep(0.2)
    raise RuntimeError("the language model broke")


@pytest.mark.parametrize("backend", ["direct", "routed"])
async def test_a_text_source_that_fails_ends_the_reply_with_its_error_not_a_failover(
    backend: str, registry: RedisRegistry, make_registered: RegisteredFactory
) -> None:
    """The text is read by a background task: its error must reach the reply's reader,
    not be lost, nor be taken for the worker's fault."""
    worker, _ = await make_registered()
    events: list[FailoverEvent] = []
    request = replace(REQUEST, session_id=f"broken-text.{backend}")
    synth = RoutedSynthesizer(registry, router=Router(), timeouts=TIMEOUTS)
    tts = DirectTTS(worker.address, timeouts=TIMEOUTS)
    if backend == "direct":
        stream = tts.open(breaking_text(), request, session_key="", on_failover=events.append)
    else:
        stream = synth.stream(breaking_text(), request, on_failover=events.append)
    with pytest.raises(RuntimeError, match="the language model broke"):
        await drain(stream)
    await tts.close()
    await synth.close()
    assert events == []
