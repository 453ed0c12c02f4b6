"""One line per bad configuration value: the key as the user typed it, what is allowed.

pydantic's own errors name a location and a type; ``describe`` turns the first one
into "file: key must be an integer in 1..64, got 0" (or the variable, or the flag),
from the model's fields: their ``allowed`` text, type and range. Secrets are never
echoed (``shown_value``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit, urlunsplit

import annotated_types
from pydantic import BaseModel
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

if TYPE_CHECKING:
    from voicectl.config_layers import Layer


def comma_list(value: object) -> object:
    """``a, b`` (a variable or a flag) as ``("a", "b")``; a YAML list as it is."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def readable_file(value: Path | None) -> Path | None:
    """A field validator for a PEM file key (``tls_cert``...): none, or a file there."""
    if value is not None and not value.is_file():
        raise ValueError(f"must be a readable PEM file, got {str(value)!r} (no such file)")
    return value


def check_tls_pair(cert: Path | None, key: Path | None) -> None:
    """A certificate goes with its key: both keys, or neither."""
    if (cert is None) != (key is None):
        raise ValueError("tls_cert and tls_key: set both (the certificate and its key) or neither")


def allowed(text: str) -> JsonDict:
    """``Field(json_schema_extra=allowed(...))``: what a key accepts, for its error message."""
    return {"allowed": text}


def describe(
    error: ErrorDetails, root: type[BaseModel], owners: Mapping[str, Layer] | None = None
) -> str:
    """One line naming what the user typed and what is allowed."""
    # Dict keys and list indices belong to the value, not to the key the user wrote.
    path = [str(part) for part in error["loc"] if part != "[key]" and not isinstance(part, int)]
    key = ".".join(path)
    given = owners or {}
    layer = next((given[k] for k in (key, *_parents(key)) if k in given), None)
    at = ""
    if layer is not None and layer.kind == "file" and layer.file is not None:
        at = f"{layer.file}: "
    elif layer is not None and layer.kind == "environment":
        at = "environment: "
    if error["type"] == "extra_forbidden":
        parent = _model_at(root, path[:-1])
        known = ", ".join(parent.model_fields) if parent is not None else ""
        return f"{at}unknown key {key!r}; known keys: {known}"
    label = key if layer is None else layer.spelled(key)
    if error["type"] == "missing":
        return f"{at}{label} is missing"
    if "[key]" in error["loc"]:  # a key of a mapping of fixed names (phases)
        expected = error.get("ctx", {}).get("expected", "")
        inside, _, name = label.rpartition(".")
        return f"{at}{inside}: unknown key {name!r}; known keys: {expected}"
    info = _field_at(root, path)
    accepts = _allowed(info, error) if info is not None else None
    if error["type"] == "value_error":
        why = str(error.get("ctx", {}).get("error", error["msg"]))
        return (
            f"{at}{label} {why}" if label else f"{at}{why}"
        )  # a validator's words start with "must be", "is"...; no label: the whole model
    typed = shown_value(key, error["input"])  # a bad token is not echoed
    if accepts is None:
        return f"{at}{label}: {error['msg']}, got {typed!r}"
    return f"{at}{label} must be {accepts}, got {typed!r}"


def _parents(key: str) -> list[str]:
    parts = key.split(".")
    return [".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


def _model_at(root: type[BaseModel], path: Sequence[str]) -> type[BaseModel] | None:
    """The model holding the keys at ``path`` (through nested models and dicts of models)."""
    model: type[BaseModel] | None = root
    for part in path:
        if model is None:
            return None
        info = model.model_fields.get(part)
        if info is None:  # a key of a dict of models: its values share one model
            continue
        model = _submodel(info.annotation)
    return model


def _field_at(root: type[BaseModel], path: Sequence[str]) -> FieldInfo | None:
    """The field a pydantic error location points at, through nested models and dicts."""
    model: type[BaseModel] | None = root
    info: FieldInfo | None = None
    in_dict = False
    for part in path:
        if in_dict:  # ``part`` is a key of the dict, not a field
            in_dict = False
            continue
        if model is None:
            return info
        info = _by_name_or_alias(model, part)
        if info is None:
            return None
        in_dict = get_origin(info.annotation) is dict
        model = _submodel(info.annotation)
    return info


def _by_name_or_alias(model: type[BaseModel], name: str) -> FieldInfo | None:
    found = model.model_fields.get(name)
    if found is None:
        found = next((f for f in model.model_fields.values() if f.alias == name), None)
    return found


def _submodel(annotation: object) -> type[BaseModel] | None:
    """The model a field holds, or the model of a dict's values."""
    if get_origin(annotation) is dict:
        annotation = get_args(annotation)[1]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _allowed(info: FieldInfo, error: ErrorDetails) -> str | None:
    """What a field accepts, in words: its own ``allowed`` text, or from its type and range."""
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("allowed"), str):
        return str(extra["allowed"])
    annotation = _without_none(info.annotation)
    if annotation is bool:
        return "true or false"
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(v) for v in get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(repr(m.value) for m in annotation)
    if error["type"] == "enum" and "expected" in error.get("ctx", {}):
        return "one of " + str(error["ctx"]["expected"])
    low = high = None
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Le):
            high = item.le
    if annotation is int:
        return "an integer" + _range(low, high)
    if annotation is float:
        return "a number" + _range(low, high)
    if annotation is str:
        required = any(isinstance(item, annotated_types.MinLen) for item in info.metadata)
        return "a non-empty string" if required else "a string"
    if get_origin(annotation) is list and get_args(annotation) == (str,):
        return "a list of strings"
    if annotation is Path:
        return "a path"
    if get_origin(annotation) is dict or _submodel(annotation) is not None:
        return "a mapping of keys to values"
    return None


def _range(low: object, high: object) -> str:
    def text(bound: object) -> str:
        return f"{bound:g}" if isinstance(bound, float) else str(bound)

    if low is not None and high is not None:
        return f" in {text(low)}..{text(high)}"
    if low is not None:
        return f" >= {text(low)}"
    return f" <= {text(high)}" if high is not None else ""


def _without_none(annotation: object) -> object:
    """``X | None`` -> ``X``: the words describe the value; "none" is offered where allowed."""
    if get_origin(annotation) in (Union, UnionType):
        kept = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(kept) == 1:
            return kept[0]
    return annotation


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def hide_password(value: object) -> object:
    """A URL's password as ``***`` (``redact_url``); other values as they are."""
    return redact_url(value) if isinstance(value, str) and "://" in value else value


SECRET_KEYS = ("token", "admin_token", "tokens", "registry_secret", "token_secret", "api_secret")


def shown_value(key: str, value: object) -> object:
    """A value as ``config show`` and logs print it: tokens as ``***``, URL passwords hidden."""
    if key.rsplit(".", 1)[-1] in SECRET_KEYS and value not in (None, "", (), []):
        return ["***" for _ in value] if isinstance(value, list | tuple) else "***"
    return hide_password(value)
