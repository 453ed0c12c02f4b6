"""The model manager: loads models on demand, shares them between streams, evicts idle ones.

One load per model at a time (concurrent requesters await the same load), a
refcount per active stream (in-use models are never evicted), the default model
pinned, TTL + LRU eviction decided by the pure policy in ``eviction.py``, and a
short warmup synthesis before a model is READY.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress

import grpc

from voicectl.rpc.model_state import ModelState
from voicectl.worker import eviction, memory
from voicectl.worker.adapters import AdapterUnavailable, resolve_adapter
from voicectl.worker.adapters.base import (
    TTSAdapter,
    run_blocking,
)
from voicectl.worker.adapters.lora import LoraAdapter, base_of
from voicectl.worker.catalog import Catalog
from voicectl.worker.errors import RequestError, quoted
from voicectl.worker.model_entry import ManagerLimits, ModelEntry, ModelEvents
from voicectl.worker.warmup import warmup

log = logging.getLogger(__name__)

UNLOAD_RECHECK_S = 0.2  # an unload waiting for a model in use looks again this often


class ModelManager:
    """Owns every loaded model of a worker process."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        default_model_id: str,
        limits: ManagerLimits,
        clock: Callable[[], float] = time.monotonic,
        events: ModelEvents | None = None,
    ) -> None:
        if default_model_id not in catalog:
            raise ValueError(
                f"default_model {default_model_id!r} is not a known model; "
                f"available: {catalog.describe_ids()}"
            )
        self.catalog = catalog
        self.default_model_id = default_model_id
        self.limits = limits
        self._clock = clock
        self.events = events or ModelEvents()
        self._entries = {mid: ModelEntry(spec=catalog[mid]) for mid in catalog}
        for entry in self._entries.values():
            entry.idle.set()
        self._entries[default_model_id].pinned = True
        self._evictor: asyncio.Task[None] | None = None
        self._admission = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, preload: Sequence[str] = ()) -> None:
        """Load the default model and the preload list, then start TTL eviction."""
        for model_id in dict.fromkeys([self.default_model_id, *preload]):
            await self.load(model_id)
        self._evictor = asyncio.create_task(self._evict_idle_forever())

    async def close(self) -> None:
        if self._evictor is not None:
            self._evictor.cancel()
            with suppress(asyncio.CancelledError):
                await self._evictor
        # LoRA adapters first: each holds its base.
        for entry in sorted(self._entries.values(), key=lambda e: base_of(e.spec) is None):
            await self._unload_entry(entry, only_if_idle=False, reason="shutdown")

    # ---------------------------------------------------------------- public API

    def entries(self) -> list[ModelEntry]:
        return [self._entries[mid] for mid in sorted(self._entries)]

    def entry(self, model_id: str) -> ModelEntry:
        found = self._entries.get(model_id)
        if found is None:
            raise RequestError(
                grpc.StatusCode.NOT_FOUND,
                f"unknown model_id {quoted(model_id)}; available: {self.catalog.describe_ids()}",
            )
        return found

    async def load(
        self, model_id: str, *, ttl_seconds: float | None = None, pin: bool = False
    ) -> ModelEntry:
        """Load ``model_id`` (or join a load in progress) and return its READY entry.

        ``pin`` only adds a pin; ``ttl_seconds`` 0 means never evict, None keeps the
        current setting.
        """
        entry = self.entry(model_id)
        if pin:
            entry.pinned = True
        if ttl_seconds is not None:
            entry.ttl_seconds = ttl_seconds if ttl_seconds > 0 else math.inf
        await self._ensure_ready(entry)
        return entry

    @asynccontextmanager
    async def acquire(self, model_id: str) -> AsyncIterator[TTSAdapter]:
        """Hold a model for one stream; it cannot be evicted or unloaded meanwhile."""
        entry = self.entry(model_id)
        adapter = await self._hold(entry)
        try:
            yield adapter
        finally:
            self._release(entry)

    async def unload(self, model_id: str, *, wait_if_in_use: bool) -> ModelEntry:
        """Unload a model; refuse (FAILED_PRECONDITION) or wait while streams use it.

        A base model's resident LoRA adapters are unloaded first, on the same terms.
        """
        entry = self.entry(model_id)
        if not wait_if_in_use:
            self._refuse_if_in_use(entry)  # before any LoRA of it is unloaded
        while True:
            # LoRAs first, each time round: one may have been loading, or loaded meanwhile.
            for lora in self.dependents(entry):
                await self.unload(lora.spec.model_id, wait_if_in_use=wait_if_in_use)
            if entry.loading is not None:
                with suppress(Exception):  # a failed load is logged and recorded by the load
                    await asyncio.shield(entry.loading)
            if entry.state is not ModelState.READY:
                return entry
            if not wait_if_in_use:
                self._refuse_if_in_use(entry)
            if entry.refcount:
                # Wake up now and then: a LoRA attached meanwhile holds it, and idle
                # would never come.
                with suppress(TimeoutError):
                    await asyncio.wait_for(entry.idle.wait(), timeout=UNLOAD_RECHECK_S)
                continue
            if await self._unload_entry(entry, only_if_idle=True, reason="request"):
                entry.pinned = False
                return entry

    def _refuse_if_in_use(self, entry: ModelEntry) -> None:
        """FAILED_PRECONDITION naming what uses ``entry``: its streams, or LoRAs speaking."""
        loras = self.dependents(entry)
        speaking = [lora.spec.model_id for lora in loras if lora.refcount]
        streams = entry.refcount - len(loras)
        model_id = entry.spec.model_id
        if streams > 0:
            raise RequestError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"model {model_id!r} is in use by {streams} stream(s); "
                "retry later or set wait_if_in_use",
            )
        if speaking:
            raise RequestError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"model {model_id!r} carries LoRA adapters in use: {', '.join(speaking)}; "
                "retry later or set wait_if_in_use",
            )

    async def evict_expired(self) -> list[str]:
        """Unload every model idle past its TTL (called periodically)."""
        evicted = []
        for model_id in eviction.expired(self._residents(), now=self._clock()):
            if await self._unload_entry(self._entries[model_id], only_if_idle=True, reason="ttl"):
                log.info("evicted %s: idle past its TTL", model_id)
                evicted.append(model_id)
        return evicted

    def dependents(self, entry: ModelEntry) -> list[ModelEntry]:
        """The LoRA adapters resident on ``entry``."""
        return [e for e in self.entries() if e.holds is entry]

    # ------------------------------------------------------------------ internals

    async def _hold(self, entry: ModelEntry) -> TTSAdapter:
        """Load ``entry`` if needed and take one reference on it (a stream or a LoRA)."""
        while True:
            adapter = await self._ensure_ready(entry)
            # Another task may have unloaded it between the load and now: check again.
            if entry.state is ModelState.READY and entry.adapter is adapter:
                break
        entry.refcount += 1
        entry.idle.clear()
        self._touch(entry)
        return adapter

    def _release(self, entry: ModelEntry) -> None:
        entry.refcount -= 1
        self._touch(entry)
        if entry.refcount == 0:
            entry.idle.set()

    def effective_ttl(self, entry: ModelEntry) -> float | None:
        """The entry's TTL override (inf = never) or the worker default; None = never."""
        ttl = entry.ttl_seconds if entry.ttl_seconds is not None else self.limits.ttl_seconds
        return None if ttl is None or math.isinf(ttl) else ttl

    def _touch(self, entry: ModelEntry) -> None:
        entry.last_used = self._clock()
        entry.last_used_wall = time.time()

    def _residents(self) -> list[eviction.Resident]:
        """READY models for the policy; LOADING ones count as occupied and unevictable."""
        return [
            eviction.Resident(
                model_id=e.spec.model_id,
                refcount=e.refcount + (1 if e.state is ModelState.LOADING else 0),
                pinned=e.pinned,
                last_used=e.last_used,
                ttl_seconds=self.effective_ttl(e),
                memory_bytes=e.memory_bytes,
            )
            for e in self._entries.values()
            if e.state in (ModelState.READY, ModelState.LOADING)
        ]

    async def _ensure_ready(self, entry: ModelEntry) -> TTSAdapter:
        if entry.state is ModelState.READY and entry.adapter is not None:
            return entry.adapter
        if entry.loading is None:
            entry.loading = asyncio.ensure_future(self._load_entry(entry))
        try:
            return await asyncio.shield(entry.loading)
        except RequestError:
            raise
        except Exception as exc:
            raise RequestError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"model {entry.spec.model_id!r} failed to load: {entry.error or exc}",
            ) from exc

    async def _load_entry(self, entry: ModelEntry) -> TTSAdapter:
        try:
            async with entry.lock:  # waits for an unload of this model in progress
                if entry.state is ModelState.READY and entry.adapter is not None:
                    return entry.adapter
                base_id = base_of(entry.spec)
                if base_id is None:
                    await self._admit(entry)
                    return await self._load_admitted(entry)
                # A LoRA adapter: its base first (loaded once, held while the LoRA is).
                base = self.entry(base_id)
                base_adapter = await self._hold(base)
                entry.holds = base  # from now: an unload of the base sees this LoRA
                try:
                    await self._admit(entry)
                    return await self._load_admitted(entry, onto=base_adapter)
                except BaseException:
                    entry.holds = None
                    self._release(base)
                    raise
        finally:
            entry.loading = None

    async def _admit(self, entry: ModelEntry) -> None:
        """Evict LRU models so ``entry`` fits, then mark it LOADING (one decision at a time)."""
        model_id = entry.spec.model_id
        async with self._admission:
            victims = eviction.lru_victims(
                self._residents(),
                max_loaded=self.limits.max_loaded,
                memory_budget=self.limits.memory_budget_bytes,
                memory_in_use=memory.process_rss(),
                incoming=model_id,
            )
            if victims is None:
                raise RequestError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"cannot load {model_id!r}: max_loaded={self.limits.max_loaded} reached "
                    "and every loaded model is in use or pinned; unload one or raise max_loaded",
                )
            for victim in victims:
                log.info("evicting %s (least recently used) to make room for %s", victim, model_id)
                await self._unload_entry(self._entries[victim], only_if_idle=True, reason="lru")
            entry.state = ModelState.LOADING
            entry.error = ""

    async def _load_admitted(
        self, entry: ModelEntry, *, onto: TTSAdapter | None = None
    ) -> TTSAdapter:
        """Load the model (or attach the LoRA adapter ``onto`` its base), then warm it up."""
        model_id = entry.spec.model_id
        try:
            started = time.perf_counter()
            rss_before = memory.process_rss()
            adapter_cls = resolve_adapter(entry.spec.adapter)
            if onto is not None:
                adapter: TTSAdapter = await run_blocking(
                    lambda: LoraAdapter.attach(onto, entry.spec)
                )
            else:
                adapter = await run_blocking(lambda: adapter_cls.load(entry.spec))
            loaded = time.perf_counter()
            if self.limits.warmup:
                try:
                    await warmup(adapter)
                except Exception:
                    await run_blocking(adapter.unload)  # a model that cannot speak is freed
                    raise
        except Exception as exc:
            entry.state = ModelState.FAILED
            entry.error = (
                str(exc)
                if isinstance(exc, AdapterUnavailable)
                else (f"{type(exc).__name__}: {exc}")
            )
            log.warning("model %s failed to load: %s", model_id, entry.error)
            self.events.load_failed(model_id)
            raise
        entry.adapter = adapter
        entry.load_time_ms = int((loaded - started) * 1000)
        entry.warmup_time_ms = int((time.perf_counter() - loaded) * 1000)
        entry.memory_bytes = max(0, memory.process_rss() - rss_before)
        entry.state = ModelState.READY
        if model_id == self.default_model_id:
            entry.pinned = True
        self._touch(entry)
        self.events.loaded(model_id, time.perf_counter() - started)
        log.info(
            "model %s ready: load %d ms, warmup %d ms, +%d MiB",
            model_id,
            entry.load_time_ms,
            entry.warmup_time_ms,
            entry.memory_bytes // 2**20,
        )
        return adapter

    async def _unload_entry(self, entry: ModelEntry, *, only_if_idle: bool, reason: str) -> bool:
        """Unload a READY model; with ``only_if_idle``, skip it if a stream took it meanwhile."""
        async with entry.lock:
            if entry.state is not ModelState.READY or (only_if_idle and entry.refcount):
                return False
            adapter = entry.adapter
            entry.state = ModelState.UNLOADING
            entry.adapter = None
            try:
                if adapter is not None:
                    await run_blocking(adapter.unload)
            finally:
                entry.state = ModelState.AVAILABLE
                entry.memory_bytes = 0
                if entry.holds is not None:
                    self._release(entry.holds)
                    entry.holds = None
            self.events.unloaded(entry.spec.model_id, reason)
            return True

    async def _evict_idle_forever(self) -> None:
        while True:
            ttls = [r.ttl_seconds for r in self._residents() if r.ttl_seconds is not None]
            await asyncio.sleep(min(max(min(ttls, default=4.0) / 4, 0.05), 1.0))
            try:
                await self.evict_expired()
            except Exception:  # keep evicting even if one unload fails
                log.exception("idle eviction failed")
