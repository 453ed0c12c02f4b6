"""Registry records are checked field by field (pydantic, strict): the error names it."""

from __future__ import annotations

import pytest

from voicectl.registry.base import RecordError, WorkerRecord

BASE = {"worker_id": "w1", "host": "10.0.0.7", "port": 50051}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"worker_id": ""}, "worker_id must be a non-empty string, got ''"),
        ({"port": "50051"}, "port must be an integer in 1..65535, got '50051'"),  # strict
        ({"port": True}, "port must be an integer in 1..65535, got True"),
        ({"gpu": -1}, "gpu must be null or an integer >= 0, got -1"),
        ({"mean_latency_ms": float("inf")}, "mean_latency_ms must be a number >= 0, got inf"),
        ({"active_sessions": 10**7}, "active_sessions must be an integer in 0..1000000"),
        ({"known_models": ["a", 2]}, "known_models must be a list of strings, got 2"),
        ({"schema": 2}, "schema must be one of 1, got 2"),
    ],
)
def test_a_bad_field_is_named(change: dict[str, object], message: str) -> None:
    with pytest.raises(RecordError) as caught:
        WorkerRecord.from_dict({**BASE, **change})
    assert str(caught.value).startswith(message), caught.value


def test_a_missing_field_and_a_non_object() -> None:
    with pytest.raises(RecordError, match=r"^host is missing$"):
        WorkerRecord.from_dict({"worker_id": "w1", "port": 1})
    with pytest.raises(RecordError, match="must be a JSON object, got list"):
        WorkerRecord.from_dict([BASE])


def test_fields_of_a_newer_worker_are_ignored_and_the_rest_kept() -> None:
    record = WorkerRecord.from_dict({**BASE, "gpu": 1, "started_at": 5, "tls": True})
    assert (record.gpu, record.started_at, record.address) == (1, 5.0, "10.0.0.7:50051")
    assert WorkerRecord.from_json(record.to_json()) == record
