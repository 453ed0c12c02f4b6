"""One vocabulary for a model's state: the wire enum, record names and the CLI's words."""

from __future__ import annotations

import pytest

from voicectl.registry.base import WorkerRecord
from voicectl.rpc.model_state import ModelState
from voicectl.rpc.v1 import tts_pb2 as pb


def test_every_state_round_trips_through_the_wire_and_the_record_name() -> None:
    for state in ModelState:
        assert ModelState.from_pb(state.to_pb()) is state
        assert ModelState.from_name(state.value) is state
        assert pb.ModelState.Name(state.to_pb()) == f"MODEL_STATE_{state.name}"
    wire = {value for name, value in pb.ModelState.items() if name != "MODEL_STATE_UNSPECIFIED"}
    assert {state.to_pb() for state in ModelState} == wire  # no wire state is left out
    with pytest.raises(ValueError, match="MODEL_STATE_UNSPECIFIED"):
        ModelState.from_pb(pb.MODEL_STATE_UNSPECIFIED)
    assert ModelState.from_name("warming") is None


def test_resident_is_what_routing_prefers_and_in_memory_is_what_ps_lists() -> None:
    assert {s for s in ModelState if s.resident} == {ModelState.READY, ModelState.LOADING}
    assert {s for s in ModelState if s.in_memory} == {
        ModelState.READY, ModelState.LOADING, ModelState.UNLOADING,
    }  # fmt: skip
    record = WorkerRecord(
        worker_id="w", host="127.0.0.1", port=1,
        models={"a": "ready", "b": "loading", "c": "unloading", "d": "failed", "e": "bogus"},
    )  # fmt: skip
    assert [m for m in "abcdef" if record.holds(m)] == ["a", "b"]
