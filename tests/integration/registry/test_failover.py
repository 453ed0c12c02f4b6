"""kill -9 a worker process: routing moves on, and a reply in flight completes elsewhere."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections.abc import AsyncIterator
from dataclasses import replace

import grpc
import pytest

from tests.conftest import mock_catalog
from tests.integration.registry.conftest import (
    RegisteredFactory,
    WorkerProcesses,
    wait_for_workers,
    wait_until,
    workers_of,
)
from voicectl.registry.failover import FailoverEvent, RoutedSynthesizer
from voicectl.registry.redis_backend import RedisRegistry
from voicectl.registry.routing import Policy, Router, RoutingConfig
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.worker import adapters
from voicectl.worker.catalog import MOCK_SINE

TEXT = "The quick brown fox jumps over the lazy dog, while the band plays on and on."
# Generation at 0.3 x real time: the reply is still being generated when the worker dies.
SLOW_MOCK = {"VOICECTL_MOCK_RTF": "0.3"}


async def words(text: str) -> AsyncIterator[str]:
    for word in text.split(" "):
        yield word + " "
        await asyncio.sleep(0.01)


def router() -> Router:
    return Router(RoutingConfig(policy=Policy.LEAST_BUSY), random.Random(3))


async def test_reply_in_flight_continues_bit_exact_on_another_worker(
    registry: RedisRegistry, worker_processes: WorkerProcesses
) -> None:
    for _ in range(2):
        worker_processes.spawn(env=SLOW_MOCK)
    records = await wait_for_workers(registry, 2, worker_processes)
    request = SynthesisRequest(model_id="mock:sine", sample_rate=16000)
    events: list[FailoverEvent] = []
    synth = RoutedSynthesizer(registry, router=router())
    # Text streamed word by word, as from an LLM: the new worker gets all of it again.
    stream = synth.stream(words(TEXT), request, on_failover=events.append)
    frames = []
    victim = None
    async for frame in stream:
        frames.append(frame)
        if len(frames) == 15:
            assert stream.worker is not None
            victim = stream.worker
            os.kill(victim.pid, signal.SIGKILL)
    assert victim is not None
    survivor = next(r for r in records if r.worker_id != victim.worker_id)

    # The caller got an event, not an exception, and a complete, continuous reply.
    assert [(e.from_worker, e.to_worker) for e in events] == [
        (victim.worker_id, survivor.worker_id)
    ]
    assert events[0].resumed_at_sample >= 15 * 320
    assert frames[-1].final
    assert [f.sequence for f in frames] == list(range(len(frames)))
    offsets = [f.sample_offset for f in frames]
    sizes = [len(f.pcm) // 2 for f in frames]
    assert offsets == [sum(sizes[:i]) for i in range(len(frames))]

    # Bit-exact: the same samples as one uninterrupted synthesis.
    async with TTSClient(survivor.address) as direct:
        reference, rate, _ = await collect_pcm(direct.synthesize(TEXT, request))
    assert rate == 16000
    assert b"".join(f.pcm for f in frames) == reference

    # This synthesizer already avoids the dead worker; its record is still there (TTL).
    decision = await synth.pick(model_id="mock:sine")
    assert decision.worker.worker_id == survivor.worker_id
    await synth.close()


async def test_next_request_goes_elsewhere_within_one_ttl(
    registry: RedisRegistry, worker_processes: WorkerProcesses
) -> None:
    for _ in range(2):
        worker_processes.spawn()
    records = await wait_for_workers(registry, 2, worker_processes)
    victim, survivor = records
    os.kill(victim.pid, signal.SIGKILL)

    # Before the record expires, a fresh router may still pick the dead worker: the
    # connection fails at once and the reply is served by the survivor.
    fresh = RoutedSynthesizer(registry, router=Router(RoutingConfig(policy=Policy.RANDOM)))
    for _ in range(3):
        stream = fresh.stream("Hello there.")
        reply = [f async for f in stream]
        assert reply[-1].final
        assert stream.worker is not None
        assert stream.worker.worker_id == survivor.worker_id
    await fresh.close()

    # Within one TTL (1 s) the dead worker leaves the registry by itself.
    await wait_until(lambda: _only(registry, survivor.worker_id), timeout=10)
    other = RoutedSynthesizer(registry, router=router())
    for _ in range(3):
        decision = await other.pick()
        assert decision.worker.worker_id == survivor.worker_id
    await other.close()


async def _only(registry: RedisRegistry, worker_id: str) -> bool:
    return list(await workers_of(registry)) == [worker_id]


async def test_the_same_error_on_two_workers_fails_the_reply_not_the_workers(
    registry: RedisRegistry, make_registered: RegisteredFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reply that breaks every worker's model (the NUL that once made Piper raise): after
    # the same INTERNAL from two workers it fails alone, and both stay in rotation.
    monkeypatch.setitem(adapters.ADAPTERS, "failing", adapters.AdapterEntry(
        "tests.integration.test_worker_bad_input", "FailingAdapter", None, ()))  # fmt: skip
    spec = replace(MOCK_SINE, model_id="failing:one", adapter="failing")
    for _ in range(2):
        await make_registered(catalog=mock_catalog(spec), warmup=False)
    await wait_until(lambda: _registered(registry, 2))
    synth = RoutedSynthesizer(registry, router=router())
    events: list[FailoverEvent] = []
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await collect_pcm(synth.stream(TEXT, SynthesisRequest(model_id="failing:one"),
                                       on_failover=events.append))  # fmt: skip
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert "device lost" in (raised.value.details() or "")
    assert len(events) == 1, "one failover, then the error was seen as the reply's"
    ids = [record.worker_id for record in await registry.list_workers()]
    for worker_id in ids:  # each one is still picked when the other is ruled out
        other = next(i for i in ids if i != worker_id)
        decision = await synth.pick(model_id="mock:sine", exclude=frozenset({other}))
        assert decision.worker.worker_id == worker_id, "left out for the reply's fault"
    pcm, _, _ = await collect_pcm(
        synth.stream("Still fine.", SynthesisRequest(model_id="mock:sine"))
    )
    assert pcm
    await synth.close()


async def _registered(registry: RedisRegistry, count: int) -> bool:
    return len(await registry.list_workers()) >= count
