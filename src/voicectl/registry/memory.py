"""The in-memory registry: the embedded default, no Redis needed.

Seeded from a static ``--worker HOST:PORT`` list (those entries never expire and
carry no live load: routers add their own in-flight counts), and it also accepts
``register``/``heartbeat`` from workers in the same process, with TTL expiry
measured on an injectable clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace

from voicectl.registry.base import (
    ChangeKind,
    Registry,
    RegistryChange,
    WorkerRecord,
    parse_address,
)


def static_record(address: str) -> WorkerRecord:
    """A record for a ``HOST:PORT`` given on the command line; its id is the address."""
    host, port = parse_address(address)
    record = WorkerRecord(worker_id="", host=host, port=port)
    return replace(record, worker_id=record.address)


class StaticRegistry(Registry):
    """A fixed list of workers plus in-process registrations with TTLs."""

    def __init__(
        self, workers: Iterable[str] = (), *, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._records: dict[str, WorkerRecord] = {}
        self._expires: dict[str, float] = {}  # worker id -> deadline; static ones are absent
        for address in workers:
            record = static_record(address)
            self._records[record.worker_id] = record
        self._watchers: list[asyncio.Queue[RegistryChange]] = []

    async def register(self, record: WorkerRecord, *, ttl: float) -> None:
        await self.heartbeat(record, ttl=ttl)

    async def heartbeat(self, record: WorkerRecord, *, ttl: float) -> None:
        self._records[record.worker_id] = record
        self._expires[record.worker_id] = self._clock() + ttl
        self._notify(ChangeKind.UPDATED, record.worker_id)

    async def deregister(self, worker_id: str) -> None:
        if self._records.pop(worker_id, None) is not None:
            self._expires.pop(worker_id, None)
            self._notify(ChangeKind.REMOVED, worker_id)

    async def list_workers(self) -> list[WorkerRecord]:
        now = self._clock()
        for worker_id, deadline in list(self._expires.items()):
            if deadline <= now:
                await self.deregister(worker_id)
        return [self._records[k] for k in sorted(self._records)]

    async def changes(self) -> AsyncIterator[RegistryChange]:
        queue: asyncio.Queue[RegistryChange] = asyncio.Queue()
        self._watchers.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._watchers.remove(queue)

    def _notify(self, kind: ChangeKind, worker_id: str) -> None:
        for queue in self._watchers:
            queue.put_nowait(RegistryChange(kind=kind, worker_id=worker_id))
