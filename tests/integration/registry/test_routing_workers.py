"""Routing over two and three real in-process workers registered in a real Redis."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from tests.conftest import LONG_TEXT
from tests.integration.registry.conftest import RegisteredFactory, wait_until, workers_of
from voicectl.registry.failover import RoutedStream, RoutedSynthesizer
from voicectl.registry.redis_backend import RedisRegistry
from voicectl.registry.routing import Policy, Router, RoutingConfig
from voicectl.rpc.client import SynthesisRequest, TTSClient
from voicectl.rpc.v1 import tts_pb2 as pb


def synthesizer(registry: RedisRegistry, policy: Policy, **config: int) -> RoutedSynthesizer:
    return RoutedSynthesizer(
        registry, router=Router(RoutingConfig(policy=policy, **config), random.Random(7))
    )


async def open_held(synth: RoutedSynthesizer, model_id: str, n: int) -> list[RoutedStream]:
    """Start ``n`` routed streams, take one frame of each, and hold them paused."""
    streams = [
        synth.stream(LONG_TEXT, SynthesisRequest(model_id=model_id, sample_rate=16000))
        for _ in range(n)
    ]
    iterators = [aiter(s) for s in streams]
    await asyncio.gather(*(anext(it) for it in iterators))
    for stream in streams:
        await stream.pause()
    for stream, it in zip(streams, iterators, strict=True):
        stream._iterator = it  # type: ignore[attr-defined]  # keep it alive until closed
    return streams


async def close_all(streams: list[RoutedStream]) -> None:
    for stream in streams:
        await stream.stop()
        await stream._iterator.aclose()  # type: ignore[attr-defined]


async def test_least_busy_spreads_sessions_over_three_workers(
    registry: RedisRegistry, make_registered: RegisteredFactory
) -> None:
    workers = [(await make_registered())[0] for _ in range(3)]
    synth = synthesizer(registry, Policy.LEAST_BUSY)
    streams = await open_held(synth, "mock:slow", 6)
    try:
        placed = Counter(s.worker.worker_id for s in streams if s.worker is not None)
        assert sorted(placed.values()) == [2, 2, 2]
        assert [len(w.sessions) for w in workers] == [2, 2, 2]
        # The heartbeats carry the load, and the next pick follows it.
        await wait_until(lambda: _loads_are(registry, [2, 2, 2]))
    finally:
        await close_all(streams)
        await synth.close()


async def _loads_are(registry: RedisRegistry, loads: list[int]) -> bool:
    return sorted(r.load for r in (await workers_of(registry)).values()) == loads


async def test_least_busy_follows_heartbeat_load_of_other_clients(
    registry: RedisRegistry, make_registered: RegisteredFactory
) -> None:
    (busy, busy_reg), (_idle, idle_reg) = await make_registered(), await make_registered()
    # Another orchestrator's streams on `busy`, invisible to this router except via heartbeats.
    async with TTSClient(busy.address) as other:
        calls = [
            other.synthesize(LONG_TEXT, SynthesisRequest(session_id=f"o{i}", model_id="mock:slow"))
            for i in range(2)
        ]
        for call in calls:
            await anext(aiter(call))
        await wait_until(lambda: _load_of(registry, busy_reg.settings.worker_id, 2))
        synth = synthesizer(registry, Policy.LEAST_BUSY)
        decision = await synth.pick(model_id="mock:slow")
        assert decision.worker.worker_id == idle_reg.settings.worker_id
        assert decision.reason == "least-busy"
        for call in calls:
            call.cancel()
        await synth.close()


async def _load_of(registry: RedisRegistry, worker_id: str, load: int) -> bool:
    found = (await workers_of(registry)).get(worker_id)
    return found is not None and found.load == load


async def test_prefer_resident_picks_the_worker_holding_the_model(
    registry: RedisRegistry, make_registered: RegisteredFactory
) -> None:
    await make_registered()
    warm, warm_reg = await make_registered(preload=("mock:slow",))
    await make_registered()
    synth = synthesizer(registry, Policy.PREFER_RESIDENT, resident_max_load=2)
    streams = await open_held(synth, "mock:slow", 3)
    try:
        holder = warm_reg.settings.worker_id
        # Two streams fit under resident_max_load on the holder; the third goes elsewhere,
        # and that worker loads the model (no stream is refused).
        placed = Counter(s.worker.worker_id == holder for s in streams if s.worker)
        assert placed == {True: 2, False: 1}
        assert len(warm.sessions) == 2
        other = next(
            s.worker.worker_id for s in streams if s.worker and s.worker.worker_id != holder
        )
        await wait_until(lambda: _holds(registry, other, "mock:slow"))
        # Now `other` holds it too, with one stream: it is preferred over the idle worker.
        decision = await synth.pick(model_id="mock:slow")
        assert (decision.worker.worker_id, decision.reason) == (other, "resident")
    finally:
        await close_all(streams)
        await synth.close()


async def test_random_fallback_when_every_worker_is_full(
    registry: RedisRegistry, make_registered: RegisteredFactory
) -> None:
    for _ in range(2):
        await make_registered()
    synth = synthesizer(registry, Policy.LEAST_BUSY, max_sessions=1)
    streams = await open_held(synth, "mock:slow", 2)  # one per worker: both are now full
    try:
        decisions = [await synth.pick(model_id="mock:slow") for _ in range(8)]
        assert {d.reason for d in decisions} == {"random-fallback"}
        assert len({d.worker.worker_id for d in decisions}) == 2  # seeded, but spread
    finally:
        await close_all(streams)
        await synth.close()


async def test_a_conversation_sticks_to_its_worker(
    registry: RedisRegistry, make_registered: RegisteredFactory
) -> None:
    for _ in range(2):
        await make_registered()
    synth = synthesizer(registry, Policy.LEAST_BUSY)
    used = []
    for turn in range(3):
        stream = synth.stream(f"Reply number {turn}.", session_key="conversation-1")
        frames = [f async for f in stream]
        assert frames[-1].final
        assert stream.worker is not None
        used.append(stream.worker.worker_id)
    assert len(set(used)) == 1
    await synth.close()


async def _holds(registry: RedisRegistry, worker_id: str, model_id: str) -> bool:
    found = (await workers_of(registry)).get(worker_id)
    return found is not None and found.holds(model_id)


async def test_routed_stream_pause_resume_stop(
    registry: RedisRegistry, make_registered: RegisteredFactory
) -> None:
    worker, _ = await make_registered()
    synth = synthesizer(registry, Policy.LEAST_BUSY)
    request = SynthesisRequest(model_id="mock:slow", sample_rate=16000)
    stream = synth.stream(LONG_TEXT, request)
    frames = aiter(stream)
    first = await anext(frames)
    await stream.pause()
    session = worker.sessions.get(stream.session_id)
    assert session is not None
    assert session.state.value == "paused"  # forwarded to the worker holding the reply
    held = asyncio.ensure_future(anext(frames))
    await asyncio.sleep(0.2)  # not a timing assertion: nothing may arrive while paused
    assert not held.done()
    await stream.resume()
    second = await held
    assert (first.sequence, second.sequence) == (0, 1)
    await stream.stop()
    rest = [f async for f in frames]
    assert rest[-1].final
    assert rest[-1].end_reason == pb.END_REASON_STOPPED
    assert not stream.failovers
    await synth.close()
