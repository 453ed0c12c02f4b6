"""Signed registry records: the pure HMAC check."""

from __future__ import annotations

import json

import pytest

from voicectl.registry.base import RecordError, WorkerRecord
from voicectl.registry.redis_backend import parse_entry
from voicectl.registry.signing import sign, verify

SECRET = "registry-secret-0123456789"
RECORD = WorkerRecord(worker_id="w1", host="10.0.0.7", port=50051, models={"mock:sine": "ready"})


def test_a_signed_record_round_trips() -> None:
    stored = sign("w1", RECORD.to_dict(), SECRET)
    assert parse_entry("w1", stored.encode(), SECRET) == RECORD
    assert parse_entry("w1", stored.encode()) == RECORD  # a reader without a secret ignores sig


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.pop("sig"), "unsigned record"),
        (lambda d: d.update(host="10.6.6.6"), "does not match"),  # redirected to another host
        (lambda d: d.update(sig="0" * 64), "does not match"),
    ],
)
def test_an_unsigned_or_altered_record_is_refused(change: object, words: str) -> None:
    data = json.loads(sign("w1", RECORD.to_dict(), SECRET))
    change(data)  # type: ignore[operator]
    with pytest.raises(RecordError, match=words):
        verify("w1", data, SECRET)


def test_a_signature_is_bound_to_its_key_and_secret() -> None:
    data = json.loads(sign("w1", RECORD.to_dict(), SECRET))
    with pytest.raises(RecordError, match="does not match"):
        verify("w2", data, SECRET)  # copied under another worker's key
    with pytest.raises(RecordError, match="does not match"):
        verify("w1", data, "another-secret-0123456789")
