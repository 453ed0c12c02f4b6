"""What the torch adapters share: which device a model goes on, and named profiler stages."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def pick_device(requested: str) -> str:
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"params.device {requested!r}, but torch {torch.__version__} sees no CUDA GPU here; "
            "use cpu or auto"
        )
    return requested


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """A named range in ``voicectl profile torch`` traces (and NVTX on a GPU)."""
    with torch.profiler.record_function(name):
        if torch.cuda.is_available():
            torch.cuda.nvtx.range_push(name)
            try:
                yield
            finally:
                torch.cuda.nvtx.range_pop()
        else:
            yield


def model_device(model_id: str, requested: str) -> str:
    """``pick_device`` for a model, its error naming the model."""
    try:
        return pick_device(requested)
    except ValueError as exc:
        raise ValueError(f"model {model_id!r}: {exc}") from None
