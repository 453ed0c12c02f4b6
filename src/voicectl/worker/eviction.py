"""Pure eviction policy for the model manager: which resident models to drop, and when.

No I/O and no clock of its own: the manager passes in a snapshot and ``now``,
so the rules are unit-tested with a fake clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Resident:
    """What the policy needs to know about one loaded (READY) model."""

    model_id: str
    refcount: int
    pinned: bool
    last_used: float
    ttl_seconds: float | None
    memory_bytes: int

    @property
    def evictable(self) -> bool:
        """In-use and pinned models are never evicted."""
        return self.refcount == 0 and not self.pinned


def expired(residents: Sequence[Resident], *, now: float) -> list[str]:
    """Models idle for longer than their TTL, oldest first."""
    idle = [
        r
        for r in residents
        if r.evictable and r.ttl_seconds is not None and now - r.last_used >= r.ttl_seconds
    ]
    return [r.model_id for r in sorted(idle, key=lambda r: r.last_used)]


def lru_victims(
    residents: Sequence[Resident],
    *,
    max_loaded: int,
    memory_budget: int | None,
    memory_in_use: int,
    incoming: str | None = None,
    incoming_memory: int = 0,
) -> list[str] | None:
    """Least-recently-used models to evict so that ``incoming`` fits.

    Returns the ids to evict (possibly none), or None when the limits cannot be met
    because every candidate is in use or pinned.
    """
    others = [r for r in residents if r.model_id != incoming]
    slots_needed = len(others) + (1 if incoming is not None else 0) - max_loaded
    memory_over = 0 if memory_budget is None else memory_in_use + incoming_memory - memory_budget
    victims: list[str] = []
    for candidate in sorted((r for r in others if r.evictable), key=lambda r: r.last_used):
        if slots_needed <= 0 and memory_over <= 0:
            break
        victims.append(candidate.model_id)
        slots_needed -= 1
        memory_over -= candidate.memory_bytes
    if slots_needed > 0:
        return None
    # Memory estimates are approximate (RSS deltas): evict what we can and proceed,
    # rather than refusing when only the estimate says we are over.
    return victims
