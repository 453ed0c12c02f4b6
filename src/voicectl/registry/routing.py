"""Routing policies: which worker gets the next stream. Pure code, no I/O.

- ``least-busy``: the eligible worker with the lowest load (active sessions +
  queue depth), ties broken by mean first-frame latency, then worker id.
- ``prefer-resident``: among eligible workers that already hold the model (ready
  or loading), the least busy one, unless all holders are at or above
  ``resident_max_load``; then least-busy over all eligible workers.
- ``random``: any live worker, uniformly.

A worker is eligible when it knows the model and its load is below
``max_sessions``. When none is eligible, every policy falls back to a random
live worker (``random-fallback``), so a request is never refused by the router
while a worker is alive. The RNG is injected, so all of this is deterministic in
tests. ``Router`` adds session stickiness on top: a session keeps its worker
unless that worker fails or leaves the registry.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from voicectl.registry.base import WorkerRecord


class Policy(enum.Enum):
    LEAST_BUSY = "least-busy"
    PREFER_RESIDENT = "prefer-resident"
    RANDOM = "random"


def parse_policy(name: str) -> Policy:
    try:
        return Policy(name.strip().lower())
    except ValueError:
        allowed = ", ".join(p.value for p in Policy)
        raise ValueError(f"routing policy must be one of {allowed}; got {name!r}") from None


@dataclass(frozen=True, kw_only=True)
class RoutingConfig:
    policy: Policy = Policy.PREFER_RESIDENT
    # A worker whose load is at or above this is not eligible.
    max_sessions: int = 16
    # prefer-resident: a holder at or above this load counts as overloaded.
    resident_max_load: int = 8

    def __post_init__(self) -> None:
        if self.max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {self.max_sessions}")
        if self.resident_max_load < 1:
            raise ValueError(f"resident_max_load must be >= 1, got {self.resident_max_load}")


@dataclass(frozen=True, kw_only=True)
class RouteDecision:
    worker: WorkerRecord
    # sticky, resident, least-busy, random, random-fallback
    reason: str
    load: int


def effective_load(record: WorkerRecord, local_load: Mapping[str, int]) -> int:
    """The advertised load, or the caller's own in-flight count if that is higher
    (heartbeats lag behind streams the caller just started)."""
    return max(record.load, local_load.get(record.worker_id, 0))


def _least_busy(records: Sequence[WorkerRecord], local_load: Mapping[str, int]) -> WorkerRecord:
    return min(
        records,
        key=lambda r: (effective_load(r, local_load), r.mean_latency_ms, r.worker_id),
    )


def choose(
    records: Sequence[WorkerRecord],
    *,
    model_id: str,
    config: RoutingConfig,
    rng: random.Random,
    local_load: Mapping[str, int] | None = None,
    exclude: frozenset[str] = frozenset(),
) -> RouteDecision | None:
    """Pick a worker for a new stream of ``model_id`` ("" = each worker's default)."""
    loads = local_load or {}
    live = sorted((r for r in records if r.worker_id not in exclude), key=lambda r: r.worker_id)
    if not live:
        return None

    def decide(worker: WorkerRecord, reason: str) -> RouteDecision:
        return RouteDecision(worker=worker, reason=reason, load=effective_load(worker, loads))

    if config.policy is Policy.RANDOM:
        return decide(rng.choice(live), "random")
    eligible = [
        r for r in live if r.can_serve(model_id) and effective_load(r, loads) < config.max_sessions
    ]
    if config.policy is Policy.PREFER_RESIDENT:
        holders = [
            r
            for r in eligible
            if r.holds(model_id or r.default_model)
            and effective_load(r, loads) < config.resident_max_load
        ]
        if holders:
            return decide(_least_busy(holders, loads), "resident")
    if eligible:
        return decide(_least_busy(eligible, loads), "least-busy")
    return decide(rng.choice(live), "random-fallback")


@dataclass
class Router:
    """A policy plus session stickiness. Pure state; the caller supplies the records."""

    config: RoutingConfig = field(default_factory=RoutingConfig)
    rng: random.Random = field(default_factory=random.Random)
    sticky: dict[str, str] = field(default_factory=dict)

    def route(
        self,
        records: Sequence[WorkerRecord],
        *,
        model_id: str = "",
        session_key: str = "",
        local_load: Mapping[str, int] | None = None,
        exclude: frozenset[str] = frozenset(),
    ) -> RouteDecision | None:
        """The session's worker if it is still live and not excluded, else a policy pick.

        An empty ``session_key`` routes without stickiness.
        """
        loads = local_load or {}
        held = self.sticky.get(session_key) if session_key else None
        if held is not None and held not in exclude:
            for record in records:
                if record.worker_id == held:
                    return RouteDecision(
                        worker=record, reason="sticky", load=effective_load(record, loads)
                    )
        decision = choose(
            records,
            model_id=model_id,
            config=self.config,
            rng=self.rng,
            local_load=loads,
            exclude=exclude,
        )
        if decision is not None and session_key:
            self.sticky[session_key] = decision.worker.worker_id
        return decision

    def release(self, session_key: str) -> None:
        """The session is over: forget its worker."""
        self.sticky.pop(session_key, None)

    def worker_failed(self, worker_id: str) -> list[str]:
        """Unstick every session of a failed worker; returns their keys."""
        moved = [key for key, wid in self.sticky.items() if wid == worker_id]
        for key in moved:
            del self.sticky[key]
        return moved
