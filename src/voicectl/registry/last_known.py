"""Routing through a Redis outage: the last registry listing, while Redis is away.

Without it, every new reply failed while Redis was down, though the workers were up.
``LastKnownRegistry`` wraps a registry. When listing fails, it returns the last
listing that worked and logs how old it is. It retries Redis with backoff
(0.5 s doubling to 10 s) instead of on every reply, and says when Redis is back.
A Redis that comes back empty (restarted) fills again with each worker's next
heartbeat; for ``RECOVERY_GRACE_S`` after it returns, an empty listing means "not yet",
and the last one is used. ``age()`` feeds the orchestrator's
``voicectl_orchestrator_registry_age_seconds``.
Failover still moves a reply off a listed worker that has died meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable

from voicectl.registry.base import Registry, RegistryChange, RegistryUnavailable, WorkerRecord

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0
RECOVERY_GRACE_S = 10.0  # an empty listing right after an outage: workers re-registering


class LastKnownRegistry(Registry):
    def __init__(self, inner: Registry, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = inner
        self._clock = clock
        self._records: list[WorkerRecord] | None = None
        self._listed_at = 0.0
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._backoff = FIRST_BACKOFF_S
        self._back_at = -RECOVERY_GRACE_S

    @property
    def stale(self) -> bool:
        return self._down_since is not None

    def age(self) -> float:
        """Seconds since the listing in use was read (0 while Redis answers)."""
        return 0.0 if self._down_since is None else self._clock() - self._listed_at

    async def list_workers(self) -> list[WorkerRecord]:
        now = self._clock()
        if self._down_since is not None and now < self._retry_at and self._records is not None:
            return list(self._records)
        try:
            records = await self.inner.list_workers()
        except RegistryUnavailable as exc:
            return self._fallback(now, exc)
        if self._down_since is not None:
            log.warning("registry back after %.1f s; routing on live records again",
                        now - self._down_since)  # fmt: skip
            self._back_at = now
        self._down_since, self._backoff = None, FIRST_BACKOFF_S
        if not records and self._records and now - self._back_at < RECOVERY_GRACE_S:
            # A restarted Redis is empty until each worker's next heartbeat.
            return list(self._records)
        self._records, self._listed_at = records, now
        return list(records)

    def _fallback(self, now: float, exc: RegistryUnavailable) -> list[WorkerRecord]:
        if self._records is None:
            raise exc  # nothing known yet: the reply fails with the cause
        if self._down_since is None:
            self._down_since = now
            log.warning("%s; routing on the last listing (%d workers)", exc, len(self._records))
        else:
            self._backoff = min(MAX_BACKOFF_S, self._backoff * 2)
        self._retry_at = now + self._backoff
        log.info("registry unavailable for %.1f s; listing in use is %.1f s old",
                 now - self._down_since, now - self._listed_at)  # fmt: skip
        return list(self._records)

    async def register(self, record: WorkerRecord, *, ttl: float) -> None:
        await self.inner.register(record, ttl=ttl)

    async def heartbeat(self, record: WorkerRecord, *, ttl: float) -> None:
        await self.inner.heartbeat(record, ttl=ttl)

    async def deregister(self, worker_id: str) -> None:
        await self.inner.deregister(worker_id)

    def changes(self) -> AsyncIterator[RegistryChange]:
        return self.inner.changes()

    async def close(self) -> None:
        await self.inner.close()
