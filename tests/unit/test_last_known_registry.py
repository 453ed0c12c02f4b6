"""Routing through a registry outage: the last listing, its age, and backoff."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from voicectl.registry.base import Registry, RegistryChange, RegistryUnavailable, WorkerRecord
from voicectl.registry.last_known import LastKnownRegistry

RECORD = WorkerRecord(worker_id="w1", host="127.0.0.1", port=50051)


class Flaky(Registry):
    """A registry that lists ``records`` or, while ``down``, raises like an absent Redis."""

    def __init__(self) -> None:
        self.records = [RECORD]
        self.down = False
        self.calls = 0

    async def list_workers(self) -> list[WorkerRecord]:
        self.calls += 1
        if self.down:
            raise RegistryUnavailable("Redis at redis://127.0.0.1:1/0 is unreachable")
        return list(self.records)

    async def register(self, record: WorkerRecord, *, ttl: float) -> None: ...
    async def heartbeat(self, record: WorkerRecord, *, ttl: float) -> None: ...
    async def deregister(self, worker_id: str) -> None: ...

    async def changes(self) -> AsyncIterator[RegistryChange]:
        return
        yield


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_an_outage_routes_on_the_last_listing_and_says_how_old() -> None:
    inner, clock = Flaky(), Clock()
    registry = LastKnownRegistry(inner, clock=clock)
    assert await registry.list_workers() == [RECORD]
    assert registry.age() == 0.0
    inner.down = True
    clock.now += 5
    assert await registry.list_workers() == [RECORD]
    assert registry.stale
    assert registry.age() == 5.0
    clock.now += 0.1  # within the backoff: Redis is not asked on every reply
    calls = inner.calls
    assert await registry.list_workers() == [RECORD]
    assert inner.calls == calls
    inner.down = False
    clock.now += 1
    inner.records = []  # a restarted, empty Redis: workers have not heartbeated yet
    assert await registry.list_workers() == [RECORD]
    assert not registry.stale
    assert registry.age() == 0.0
    other = WorkerRecord(worker_id="w2", host="127.0.0.1", port=50052)
    inner.records = [other]
    assert await registry.list_workers() == [other]  # live records as soon as there are any
    inner.records = []
    clock.now += 11  # past the grace: an empty registry is empty
    assert await registry.list_workers() == []


async def test_backoff_doubles_to_ten_seconds() -> None:
    inner, clock = Flaky(), Clock()
    registry = LastKnownRegistry(inner, clock=clock)
    await registry.list_workers()
    inner.down = True
    asked_at = []
    for _ in range(400):
        before = inner.calls
        await registry.list_workers()
        if inner.calls > before:
            asked_at.append(clock.now)
        clock.now += 0.25
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(asked_at)]
    assert gaps[:5] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert set(gaps[5:]) == {10.0}


async def test_nothing_listed_yet_fails_with_the_cause() -> None:
    inner = Flaky()
    inner.down = True
    with pytest.raises(RegistryUnavailable, match="unreachable"):
        await LastKnownRegistry(inner).list_workers()
