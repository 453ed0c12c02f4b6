"""The pure eviction policy, driven by explicit timestamps (a fake clock)."""

from __future__ import annotations

from voicectl.worker.eviction import Resident, expired, lru_victims


def resident(model_id: str, last_used: float, **kw: object) -> Resident:
    fields: dict[str, object] = {
        "refcount": 0, "pinned": False, "ttl_seconds": 60.0, "memory_bytes": 100,
    }  # fmt: skip
    fields.update(kw)
    return Resident(model_id=model_id, last_used=last_used, **fields)  # type: ignore[arg-type]


def test_ttl_expiry_oldest_first_and_spares_used_and_pinned() -> None:
    models = [
        resident("a", 10.0),
        resident("b", 0.0),
        resident("busy", 0.0, refcount=1),
        resident("pinned", 0.0, pinned=True),
        resident("fresh", 50.0),
        resident("never", 0.0, ttl_seconds=None),
    ]
    assert expired(models, now=59.0) == []
    assert expired(models, now=60.0) == ["b"]
    assert expired(models, now=75.0) == ["b", "a"]
    assert expired(models, now=1e6) == ["b", "a", "fresh"]


def test_lru_evicts_least_recently_used_to_fit_max_loaded() -> None:
    models = [resident("old", 1.0), resident("mid", 2.0), resident("new", 3.0)]
    assert lru_victims(models, max_loaded=3, memory_budget=None, memory_in_use=0) == []
    assert lru_victims(models, max_loaded=3, memory_budget=None, memory_in_use=0, incoming="x") == [
        "old"
    ]
    assert lru_victims(models, max_loaded=1, memory_budget=None, memory_in_use=0, incoming="x") == [
        "old",
        "mid",
        "new",
    ]


def test_lru_never_evicts_in_use_or_pinned() -> None:
    models = [resident("busy", 1.0, refcount=2), resident("pin", 2.0, pinned=True)]
    assert (
        lru_victims(models, max_loaded=2, memory_budget=None, memory_in_use=0, incoming="x") is None
    )
    models.append(resident("idle", 3.0))
    assert lru_victims(models, max_loaded=3, memory_budget=None, memory_in_use=0, incoming="x") == [
        "idle"
    ]


def test_memory_budget_evicts_until_under_budget() -> None:
    models = [resident("a", 1.0, memory_bytes=400), resident("b", 2.0, memory_bytes=400)]
    victims = lru_victims(
        models,
        max_loaded=10,
        memory_budget=1000,
        memory_in_use=1300,
        incoming="c",
        incoming_memory=0,
    )
    assert victims == ["a"]
    victims = lru_victims(models, max_loaded=10, memory_budget=1000, memory_in_use=1500)
    assert victims == ["a", "b"]


def test_reloading_a_resident_model_needs_no_slot() -> None:
    models = [resident("a", 1.0), resident("b", 2.0)]
    assert (
        lru_victims(models, max_loaded=2, memory_budget=None, memory_in_use=0, incoming="a") == []
    )
