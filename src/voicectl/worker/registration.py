"""A worker registers itself, heartbeats its live load, and deregisters on shutdown.

The record is rebuilt from the running worker on every heartbeat (resident
models from the model manager, active and queued streams from the session table,
first-frame latency from ``LoadStats``), so routers see the load as of at most
one heartbeat interval ago. A heartbeat that fails (Redis down) is retried on the
next tick; because each heartbeat writes the whole record, a restarted, empty
Redis is re-populated by every live worker within one interval.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from voicectl import __version__
from voicectl.registry.base import Registry, RegistryError, WorkerRecord
from voicectl.rpc.model_state import ModelState
from voicectl.worker.model_entry import ModelEntry

if TYPE_CHECKING:
    from voicectl.worker.server import Worker

log = logging.getLogger(__name__)

WILDCARD_HOSTS = {"0.0.0.0", "::", "", "[::]"}


def guess_advertise_host(bind_host: str, registry_host: str | None = None) -> str:
    """The address other machines should dial.

    The bind address unless it is a wildcard; then the local address of the route
    towards the registry (the interface peers most likely share), else the host name.
    """
    if bind_host not in WILDCARD_HOSTS:
        return bind_host
    if registry_host:
        with suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((registry_host, 9))  # UDP: no packet is sent
            local = str(probe.getsockname()[0])
            if not local.startswith("127."):
                return local
    return socket.gethostname()


def resident_models(entries: Iterable[ModelEntry]) -> dict[str, str]:
    return {e.spec.model_id: e.state.value for e in entries if e.state is not ModelState.AVAILABLE}


@dataclass(frozen=True, kw_only=True)
class WorkerSnapshot:
    """What a worker advertises, read at one instant (``Worker.snapshot``): the
    registration needs these figures, not the worker's tables and manager."""

    port: int
    adapters: tuple[str, ...]
    models: dict[str, str]  # model id -> state, resident ones only
    known_models: tuple[str, ...]
    default_model: str
    active_sessions: int
    queue_depth: int
    mean_latency_ms: float


class Snapshots(Protocol):
    def snapshot(self) -> WorkerSnapshot: ...


@dataclass(frozen=True, kw_only=True)
class RegistrationSettings:
    worker_id: str
    advertise_host: str
    gpu: int | None = None
    interval: float = 2.0
    ttl: float = 6.0

    def __post_init__(self) -> None:
        if self.ttl <= self.interval:
            raise ValueError(
                f"registry_ttl ({self.ttl:g} s) must exceed the heartbeat interval "
                f"({self.interval:g} s); 3 x heartbeat is a good choice"
            )

    @classmethod
    def for_worker(
        cls, worker: Worker, *, registry_host: str | None = None
    ) -> RegistrationSettings:
        """Settings from the worker's config (call after ``worker.start()``: needs the port)."""
        config = worker.config
        host = config.advertise_host or guess_advertise_host(config.host, registry_host)
        bracketed = f"[{host}]" if ":" in host else host
        return cls(
            worker_id=config.worker_id or f"{bracketed}:{worker.port}",
            advertise_host=host,
            gpu=config.gpus[0] if len(config.gpus) == 1 else None,
            interval=config.heartbeat_seconds,
            ttl=config.registry_ttl,
        )


class WorkerRegistration:
    """``await reg.start()`` after the worker started; ``await reg.stop()`` before it stops."""

    def __init__(
        self,
        worker: Snapshots,
        registry: Registry,
        settings: RegistrationSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.worker = worker
        self.registry = registry
        self.settings = settings
        self._clock = clock
        self._started_at = clock()
        self._task: asyncio.Task[None] | None = None
        self._healthy = True
        self._last_logged: tuple[object, ...] | None = None

    def record(self) -> WorkerRecord:
        now = self.worker.snapshot()
        return WorkerRecord(
            worker_id=self.settings.worker_id,
            host=self.settings.advertise_host,
            port=now.port,
            gpu=self.settings.gpu,
            adapters=now.adapters,
            models=now.models,
            known_models=now.known_models,
            default_model=now.default_model,
            active_sessions=now.active_sessions,
            queue_depth=now.queue_depth,
            mean_latency_ms=now.mean_latency_ms,
            version=__version__,
            pid=os.getpid(),
            started_at=self._started_at,
            last_heartbeat=self._clock(),
        )

    async def start(self) -> None:
        """Register once (errors propagate: a worker that cannot register says so at start)."""
        record = self.record()
        await self.registry.register(record, ttl=self.settings.ttl)
        log.info(
            "registered %s as %s (gpu=%s, CUDA_VISIBLE_DEVICES=%s, heartbeat %.1f s, ttl %.1f s)",
            record.worker_id,
            record.address,
            record.gpu,
            os.environ.get("CUDA_VISIBLE_DEVICES", "unset"),
            self.settings.interval,
            self.settings.ttl,
        )
        self._task = asyncio.create_task(self._beat_forever(), name="registry-heartbeat")

    async def stop(self) -> None:
        """Stop heartbeating and deregister (a failure here is logged, not raised)."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.registry.deregister(self.settings.worker_id)
            log.info("deregistered %s", self.settings.worker_id)
        except RegistryError as exc:
            log.warning("could not deregister %s: %s", self.settings.worker_id, exc)

    async def heartbeat(self) -> WorkerRecord:
        record = self.record()
        await self.registry.heartbeat(record, ttl=self.settings.ttl)
        self._log_load(record)
        return record

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.interval)
            try:
                await self.heartbeat()
            except RegistryError as exc:
                if self._healthy:
                    log.warning("heartbeat failed, retrying every %.1f s: %s",
                                self.settings.interval, exc)  # fmt: skip
                self._healthy = False
                continue
            if not self._healthy:
                log.info("registry reachable again: %s re-registered", self.settings.worker_id)
                self._healthy = True

    def _log_load(self, record: WorkerRecord) -> None:
        """Routing-relevant load, at INFO when it changed, else DEBUG."""
        state = (record.active_sessions, record.queue_depth, tuple(sorted(record.models.items())))
        level = logging.INFO if state != self._last_logged else logging.DEBUG
        self._last_logged = state
        log.log(
            level,
            "heartbeat %s: sessions=%d queue=%d mean_latency_ms=%.1f models=%s",
            record.worker_id,
            record.active_sessions,
            record.queue_depth,
            record.mean_latency_ms,
            ",".join(f"{k}={v}" for k, v in sorted(record.models.items())) or "-",
        )
