"""Signed registry records: HMAC-SHA256 over the record and its key, with a shared secret.

Anyone who can write to the Redis could otherwise advertise a worker and receive
replies. With a secret set, a worker stores ``{...record, "sig": HEX}`` and readers
drop a record that is unsigned or whose signature does not match (forged, or signed
with another secret), with a warning naming the key. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from voicectl.registry.base import RecordError

SECRET_ENV = "VOICECTL_REGISTRY_SECRET"


def _canonical(data: dict[str, object]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _signature(key_id: str, data: dict[str, object], secret: str) -> str:
    message = key_id.encode() + b"\n" + _canonical(data)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(key_id: str, data: dict[str, object], secret: str) -> str:
    """The record as stored: its fields and ``sig``, as compact JSON."""
    return _canonical({**data, "sig": _signature(key_id, data, secret)}).decode()


def verify(key_id: str, data: object, secret: str) -> dict[str, object]:
    """The record's fields without ``sig``; RecordError when unsigned or forged."""
    if not isinstance(data, dict):
        raise RecordError(f"a worker record must be a JSON object, got {type(data).__name__}")
    fields = {str(k): v for k, v in data.items() if k != "sig"}
    sig = data.get("sig")
    if not isinstance(sig, str):
        raise RecordError(f"unsigned record: this registry needs records signed with {SECRET_ENV}")
    if not hmac.compare_digest(sig, _signature(key_id, fields, secret)):
        raise RecordError("the signature does not match: a forged record, or another secret")
    return fields
