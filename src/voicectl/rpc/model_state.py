"""A model's state in one vocabulary, mapped at the edges: the ``MODEL_STATE_*`` enum on
the wire (ListModels), the lower-case names in Redis records and ``--json`` output.

Shared by the worker (which owns the state), the registry (which routes on it) and the
CLI, so it lives with the ABI rather than in any one of them.
"""

from __future__ import annotations

import enum

from voicectl.rpc.v1 import tts_pb2 as pb


class ModelState(enum.Enum):
    AVAILABLE = "available"  # in the catalog, not in memory
    LOADING = "loading"
    READY = "ready"
    UNLOADING = "unloading"
    FAILED = "failed"  # the last load failed; a new load retries

    @property
    def in_memory(self) -> bool:
        """Holds (or is about to hold, or still holds) the model's weights: ``models ps``."""
        return self in _IN_MEMORY

    @property
    def resident(self) -> bool:
        """Worth routing to for this model: loaded, or loading for another stream."""
        return self in _RESIDENT

    def to_pb(self) -> pb.ModelState.ValueType:
        return _TO_PB[self]

    @classmethod
    def from_pb(cls, value: pb.ModelState.ValueType) -> ModelState:
        """The state a ListModels reply names; ValueError for an unspecified one."""
        for state, wire in _TO_PB.items():
            if wire == value:
                return state
        raise ValueError(f"not a model state: {pb.ModelState.Name(value)}")

    @classmethod
    def from_name(cls, name: str) -> ModelState | None:
        """The state a registry record names (``ready``...), None for an unknown word."""
        try:
            return cls(name)
        except ValueError:
            return None


_IN_MEMORY = frozenset({ModelState.LOADING, ModelState.READY, ModelState.UNLOADING})
_RESIDENT = frozenset({ModelState.LOADING, ModelState.READY})
_TO_PB = {
    ModelState.AVAILABLE: pb.MODEL_STATE_AVAILABLE,
    ModelState.LOADING: pb.MODEL_STATE_LOADING,
    ModelState.READY: pb.MODEL_STATE_READY,
    ModelState.UNLOADING: pb.MODEL_STATE_UNLOADING,
    ModelState.FAILED: pb.MODEL_STATE_FAILED,
}
