"""The ABI: every message round-trips, and the committed stubs match the .proto."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf.message import Message

from voicectl.rpc import codegen
from voicectl.rpc.v1 import tts_pb2 as pb

SAMPLES: list[Message] = [
    pb.SynthesizeRequest(
        config=pb.SessionConfig(
            session_id="s1", model_id="mock:sine", voice="low", sample_rate=16000,
            options=pb.SynthesisOptions(speed=1.25, target_rms_dbfs=-18.0, lookahead_ms=500),
        )
    ),
    pb.SynthesizeRequest(text=pb.TextChunk(text="héllo wörld ✓")),
    pb.SynthesizeRequest(end=pb.EndOfInput()),
    pb.AudioFrame(
        session_id="s1", sequence=7, sample_offset=7 * 320, sample_rate=16000,
        pcm=b"\x01\x00" * 320, final=True, end_reason=pb.END_REASON_STOPPED,
    ),
    pb.ControlRequest(session_id="s1", command=pb.PAUSE),
    pb.ControlResponse(
        session_id="s1", state=pb.SESSION_STATE_PAUSED, next_sequence=8, next_sample_offset=2560
    ),
    pb.ListModelsRequest(),
    pb.ListModelsResponse(
        default_model_id="mock:sine",
        models=[
            pb.ModelInfo(
                model_id="mock:sine", adapter="mock", state=pb.MODEL_STATE_READY, refcount=2,
                pinned=True, last_used_unix_ms=1_700_000_000_000, memory_bytes=1 << 20,
                load_time_ms=12, warmup_time_ms=3, ttl_seconds=300, native_sample_rate=24000,
                voices=["default", "low"], error="",
                capabilities=pb.Capabilities(streaming_text_input=True, devices=["cpu"]),
            )
        ],
    ),
    pb.LoadModelRequest(model_id="mock:sine", ttl_seconds=0, pin=True),
    pb.LoadModelResponse(model=pb.ModelInfo(model_id="x", state=pb.MODEL_STATE_FAILED, error="e")),
    pb.UnloadModelRequest(model_id="mock:sine", wait_if_in_use=True),
    pb.UnloadModelResponse(model=pb.ModelInfo(model_id="x", state=pb.MODEL_STATE_AVAILABLE)),
]  # fmt: skip


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message: Message) -> None:
    decoded = type(message).FromString(message.SerializeToString())
    assert decoded == message
    assert decoded.ListFields() == message.ListFields()


def test_every_message_type_is_covered() -> None:
    covered = {type(m).DESCRIPTOR.name for m in SAMPLES}
    nested = {"SessionConfig", "SynthesisOptions", "TextChunk", "EndOfInput", "ModelInfo",
              "Capabilities"}  # fmt: skip
    assert set(pb.DESCRIPTOR.message_types_by_name) <= covered | nested


def test_optional_ttl_presence_survives_round_trip() -> None:
    with_zero = pb.LoadModelRequest.FromString(
        pb.LoadModelRequest(ttl_seconds=0).SerializeToString()
    )
    absent = pb.LoadModelRequest.FromString(pb.LoadModelRequest().SerializeToString())
    assert with_zero.HasField("ttl_seconds")
    assert not absent.HasField("ttl_seconds")


def test_committed_stubs_are_current(tmp_path: Path) -> None:
    codegen.generate(tmp_path)
    committed = codegen.DEFAULT_OUT
    generated = sorted(p.name for p in tmp_path.iterdir())
    assert generated == sorted(p.name for p in committed.iterdir() if p.suffix in {".py", ".pyi"})
    for name in generated:
        assert (tmp_path / name).read_text() == (committed / name).read_text(), (
            f"src/voicectl/rpc/v1/{name} is stale: run `just gen-proto` and commit"
        )
