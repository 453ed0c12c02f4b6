"""An adapter's ``params`` from its voicepack, checked against the adapter's schema."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from voicectl.config_errors import describe
from voicectl.worker.adapters.base import ModelSpec

Params = TypeVar("Params", bound=BaseModel)


def adapter_params(spec: ModelSpec, schema: type[Params]) -> Params:
    """``spec.params`` as ``schema``; a bad one is a ValueError naming the model and key."""
    try:
        return schema.model_validate(dict(spec.params))
    except ValidationError as exc:
        message = describe(exc.errors()[0], schema)
        raise ValueError(f"model {spec.model_id!r}: params: {message}") from None
