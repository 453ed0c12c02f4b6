"""`models ps` UNTIL column: when an idle model leaves memory (pure)."""

from __future__ import annotations

from voicectl.cli.models import until_eviction
from voicectl.rpc.v1 import tts_pb2 as pb

NOW = 1_000_000_000


def info(**fields: object) -> pb.ModelInfo:
    return pb.ModelInfo(model_id="m", state=pb.MODEL_STATE_READY, **fields)  # type: ignore[arg-type]


def test_until_eviction() -> None:
    assert until_eviction(info(pinned=True, ttl_seconds=300), NOW) == "never (pinned)"
    assert until_eviction(info(refcount=2, ttl_seconds=300), NOW) == "in use by 2"
    assert until_eviction(info(ttl_seconds=0), NOW) == "never (no ttl)"
    assert until_eviction(info(ttl_seconds=300, last_used_unix_ms=NOW - 250_000), NOW) == "in 50s"
    assert until_eviction(info(ttl_seconds=600, last_used_unix_ms=NOW), NOW) == "in 10m"
    assert until_eviction(info(ttl_seconds=60, last_used_unix_ms=NOW - 90_000), NOW) == "in 0s"
