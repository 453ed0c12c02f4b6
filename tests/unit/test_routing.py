"""Routing policies and stickiness (pure), record parsing, failover bookkeeping."""

from __future__ import annotations

import random

import pytest

from voicectl.registry.base import RecordError, WorkerRecord, parse_address
from voicectl.registry.routing import Policy, Router, RoutingConfig, choose, parse_policy
from voicectl.worker.supervisor import backoff_delay

MODELS = ("mock:sine", "piper:en_US-joe-medium")


def rec(
    worker_id: str, load: int = 0, *, models: dict[str, str] | None = None, latency: float = 0.0
) -> WorkerRecord:
    return WorkerRecord(
        worker_id=worker_id,
        host="10.0.0.1",
        port=50051,
        active_sessions=load,
        known_models=MODELS,
        models=models if models is not None else {"mock:sine": "ready"},
        default_model="mock:sine",
        mean_latency_ms=latency,
    )


def pick(records: list[WorkerRecord], policy: Policy, model: str = "", **kw: object) -> str:
    config = RoutingConfig(policy=policy, max_sessions=4, resident_max_load=2)
    decision = choose(records, model_id=model, config=config, rng=random.Random(0), **kw)  # type: ignore[arg-type]
    assert decision is not None
    return f"{decision.worker.worker_id}/{decision.reason}"


def test_least_busy_takes_lowest_load_then_latency_then_id() -> None:
    assert pick([rec("a", 2), rec("b", 1), rec("c", 3)], Policy.LEAST_BUSY) == "b/least-busy"
    assert pick([rec("a", 1, latency=90), rec("b", 1, latency=30)], Policy.LEAST_BUSY) == (
        "b/least-busy"
    )
    assert pick([rec("b", 1), rec("a", 1)], Policy.LEAST_BUSY) == "a/least-busy"


def test_queue_depth_and_local_inflight_count_as_load() -> None:
    queued = WorkerRecord(worker_id="a", host="h", port=1, active_sessions=0, queue_depth=2)
    assert pick([queued, rec("b", 1)], Policy.LEAST_BUSY) == "b/least-busy"
    # The caller's own streams, not yet visible in heartbeats, count too.
    assert pick([rec("a"), rec("b")], Policy.LEAST_BUSY, local_load={"a": 1}) == "b/least-busy"


def test_prefer_resident_picks_holder_unless_overloaded() -> None:
    holder = rec("b", 1, models={"piper:en_US-joe-medium": "ready"})
    assert pick([rec("a", 0), holder], Policy.PREFER_RESIDENT, "piper:en_US-joe-medium") == (
        "b/resident"
    )
    loading = rec("b", 0, models={"piper:en_US-joe-medium": "loading"})
    assert pick([rec("a"), loading], Policy.PREFER_RESIDENT, "piper:en_US-joe-medium") == (
        "b/resident"
    )
    busy_holder = rec("b", 2, models={"piper:en_US-joe-medium": "ready"})
    assert pick([rec("a", 1), busy_holder], Policy.PREFER_RESIDENT, "piper:en_US-joe-medium") == (
        "a/least-busy"
    )
    failed = rec("b", 0, models={"piper:en_US-joe-medium": "failed"})
    assert pick([rec("a", 1), failed], Policy.PREFER_RESIDENT, "piper:en_US-joe-medium") == (
        "b/least-busy"
    )


def test_default_model_means_each_workers_default() -> None:
    cold = rec("a", 0, models={})
    assert pick([cold, rec("b", 1)], Policy.PREFER_RESIDENT) == "b/resident"


def test_random_fallback_when_nothing_is_eligible() -> None:
    full = [rec("a", 4), rec("b", 5)]
    assert pick(full, Policy.LEAST_BUSY).endswith("/random-fallback")
    unknown_model = [rec("a"), rec("b")]
    assert pick(unknown_model, Policy.PREFER_RESIDENT, "xtts:v2").endswith("/random-fallback")
    seen = {
        choose(
            full, model_id="", config=RoutingConfig(max_sessions=1), rng=random.Random(s)
        ).worker.worker_id  # type: ignore[union-attr]
        for s in range(20)
    }
    assert seen == {"a", "b"}


def test_random_policy_uses_the_injected_rng() -> None:
    records = [rec("a"), rec("b"), rec("c")]
    first = [pick(records, Policy.RANDOM) for _ in range(3)]
    assert len(set(first)) == 1  # same seed, same choice
    assert first[0].endswith("/random")


def test_no_live_worker_gives_none_and_exclude_is_respected() -> None:
    config = RoutingConfig()
    assert choose([], model_id="", config=config, rng=random.Random()) is None
    records = [rec("a"), rec("b", 3)]
    decision = choose(
        records, model_id="", config=config, rng=random.Random(), exclude=frozenset({"a"})
    )
    assert decision is not None
    assert decision.worker.worker_id == "b"


def test_router_sticks_a_session_until_its_worker_fails_or_leaves() -> None:
    router = Router(RoutingConfig(policy=Policy.LEAST_BUSY), random.Random(1))
    records = [rec("a"), rec("b")]
    first = router.route(records, session_key="s1")
    assert first is not None
    assert first.worker.worker_id == "a"
    busier = [rec("a", 3), rec("b", 0)]
    again = router.route(busier, session_key="s1")
    assert again is not None
    assert (again.worker.worker_id, again.reason) == ("a", "sticky")
    other = router.route(busier, session_key="s2")
    assert other is not None
    assert other.worker.worker_id == "b"

    assert router.worker_failed("a") == ["s1"]
    moved = router.route(busier, session_key="s1")
    assert moved is not None
    assert moved.worker.worker_id == "b"
    # The worker left the registry: the session moves on.
    gone = router.route([rec("a")], session_key="s1")
    assert gone is not None
    assert gone.worker.worker_id == "a"
    router.release("s1")
    assert "s1" not in router.sticky
    # Excluding the sticky worker (a failover) re-routes.
    router.route(records, session_key="s3")
    held = router.sticky["s3"]
    rerouted = router.route(records, session_key="s3", exclude=frozenset({held}))
    assert rerouted is not None
    assert rerouted.worker.worker_id != held


def test_parse_policy_names_the_allowed_values() -> None:
    assert parse_policy("Least-Busy") is Policy.LEAST_BUSY
    with pytest.raises(ValueError, match="least-busy, prefer-resident, random"):
        parse_policy("round-robin")
    with pytest.raises(ValueError, match="max_sessions"):
        RoutingConfig(max_sessions=0)


def test_record_round_trip_and_errors() -> None:
    record = rec("a", 2, models={"mock:sine": "ready"})
    assert WorkerRecord.from_json(record.to_json()) == record
    with pytest.raises(RecordError, match="port"):
        WorkerRecord.from_dict({"worker_id": "a", "host": "h", "port": 0})
    with pytest.raises(RecordError, match="models"):
        WorkerRecord.from_dict({"worker_id": "a", "host": "h", "port": 1, "models": ["x"]})
    with pytest.raises(RecordError, match="mean_latency_ms"):
        WorkerRecord.from_dict({"worker_id": "a", "host": "h", "port": 1, "mean_latency_ms": -1})
    with pytest.raises(RecordError, match="gpu"):
        WorkerRecord.from_dict({"worker_id": "a", "host": "h", "port": 1, "gpu": True})
    assert WorkerRecord(worker_id="x", host="::1", port=5).address == "[::1]:5"


def test_parse_address() -> None:
    assert parse_address("10.0.0.2:50051") == ("10.0.0.2", 50051)
    assert parse_address("[::1]:7") == ("::1", 7)
    for bad in ("nohost", ":5", "h:0", "h:99999", "h:x"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_address(bad)


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_delay(n, base=0.5, cap=4) for n in range(1, 7)] == [0.5, 1, 2, 4, 4, 4]
