"""The model manager's records: one live entry per catalog model, its limits, its hooks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from voicectl.rpc.model_state import ModelState
from voicectl.worker.adapters.base import ModelSpec, TTSAdapter


@dataclass(kw_only=True)
class ModelEntry:
    """Live state of one catalog model."""

    spec: ModelSpec
    state: ModelState = ModelState.AVAILABLE
    adapter: TTSAdapter | None = None
    refcount: int = 0
    pinned: bool = False
    # Per-model TTL override from LoadModel: None = worker default, inf = never.
    ttl_seconds: float | None = None
    last_used: float = 0.0
    last_used_wall: float = 0.0
    memory_bytes: int = 0
    load_time_ms: int = 0
    warmup_time_ms: int = 0
    error: str = ""
    loading: asyncio.Future[TTSAdapter] | None = None
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    holds: ModelEntry | None = None
    """A resident LoRA adapter's base model, on which it holds one reference."""


class ModelEvents:
    """Hooks for metrics and logs; the default does nothing."""

    def loaded(self, model_id: str, seconds: float) -> None:
        """A load (with warmup) finished."""

    def load_failed(self, model_id: str) -> None:
        """A load raised."""

    def unloaded(self, model_id: str, reason: str) -> None:
        """``reason``: ttl, lru, request or shutdown."""


@dataclass(frozen=True, kw_only=True)
class ManagerLimits:
    max_loaded: int = 3
    ttl_seconds: float | None = 300.0
    memory_budget_bytes: int | None = None
    warmup: bool = True
