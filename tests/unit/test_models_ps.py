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


def test_a_base_held_by_its_loras_says_so() -> None:
    base = info(refcount=3, ttl_seconds=300)
    assert until_eviction(base, NOW, loras=2) == "in use by 1"
    assert until_eviction(info(refcount=2, ttl_seconds=300), NOW, loras=2) == "held by 2 LoRAs"
    assert until_eviction(info(refcount=1, ttl_seconds=300), NOW, loras=1) == "held by 1 LoRA"


def test_loras_on_counts_the_models_named_on_a_base() -> None:
    from voicectl.cli.models import loras_on

    models = [pb.ModelInfo(model_id=m) for m in ("csm:a", "csm:a+lora:x", "csm:a+lora:y", "csm:ab")]
    assert loras_on(models[0], models) == 2
    assert loras_on(models[3], models) == 0
