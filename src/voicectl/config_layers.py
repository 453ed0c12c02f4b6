"""Configuration layers: defaults < YAML file < VOICECTL_* environment < flags.

Each service defines its keys once, as a pydantic-settings model with each key's range.
This module merges the layers, remembers where every value came from (for
``voicectl config show``), and turns a pydantic error into one line that names what the
user typed: the file and key, the environment variable, or the flag.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import Any, Generic, Literal, TypeVar, Union, get_args, get_origin
from urllib.parse import urlsplit, urlunsplit

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsError,
)

ENV_PREFIX = "VOICECTL_"
ENV_NESTED = "__"  # VOICECTL_LLM__MODEL is llm.model

LayerKind = Literal["file", "environment", "flag"]
Settings = TypeVar("Settings", bound=BaseSettings)


class LayeredSettings(BaseSettings):
    """Base of the service settings: VOICECTL_* variables, unknown keys refused.

    Building one from keyword arguments reads no environment: ``resolve`` reads each
    layer itself, so that it knows where every value came from.
    """

    model_config = {
        "env_prefix": ENV_PREFIX,
        "env_nested_delimiter": ENV_NESTED,
        "extra": "forbid",
        "frozen": True,
    }

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class _EnvironmentSource(EnvSettingsSource):
    """pydantic-settings' VOICECTL_* reader over a given mapping (``os.environ`` by default)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._given = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {key.lower(): value for key, value in self._given.items()}


@dataclass(frozen=True)
class Layer:
    """One source of values, as nested mappings keyed like the YAML file."""

    kind: LayerKind
    values: Mapping[str, object]
    file: Path | None = None
    flags: Mapping[str, str] = field(default_factory=dict)  # key -> the flag's spelling

    def spelled(self, key: str) -> str:
        """The key as the user wrote it in this layer."""
        if self.kind == "environment":
            return env_name(key)
        if self.kind == "flag":
            return self.flags.get(key, "--" + key.replace("_", "-"))
        return key

    def where(self, key: str) -> str:
        """Where a value came from, as ``config show`` prints it."""
        if self.kind == "file":
            return f"file {self.file}" if self.file is not None else "file"
        return f"{'env' if self.kind == 'environment' else 'flag'} {self.spelled(key)}"


def allowed(text: str) -> JsonDict:
    """``Field(json_schema_extra=allowed(...))``: what a key accepts, for its error message."""
    return {"allowed": text}


def env_name(key: str) -> str:
    """``llm.model`` -> ``VOICECTL_LLM__MODEL``."""
    return ENV_PREFIX + key.replace(".", ENV_NESTED).upper()


def environment_layer(
    settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None
) -> Layer:
    """The VOICECTL_* variables that name a key of ``settings_cls``."""
    source = _EnvironmentSource(settings_cls, os.environ if environ is None else environ)
    return Layer("environment", dict(source()))


@dataclass(frozen=True)
class Resolved(Generic[Settings]):
    """Validated settings, and for each dotted key the layer that set it."""

    settings: Settings
    origins: dict[str, str]

    def source(self, key: str) -> str:
        return self.origins.get(key, "default")


def resolve(
    settings_cls: type[Settings], layers: Sequence[Layer], error: type[ValueError]
) -> Resolved[Settings]:
    """Merge ``layers`` (later ones win) and validate; a bad value raises ``error``."""
    merged: dict[str, Any] = {}
    owners: dict[str, Layer] = {}
    for layer in layers:
        _merge(merged, layer.values, layer, owners, prefix="")
    try:
        settings = settings_cls(**merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        try:
            message = describe(first, settings_cls, owners)
        except Exception:  # never a traceback instead of the message: pydantic's words
            message = f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
        raise error(message) from None
    return Resolved(settings, {key: owner.where(key) for key, owner in owners.items()})


def resolve_layers(
    settings_cls: type[Settings],
    *,
    file: Path | None,
    file_values: Mapping[str, object] | None,
    env: Mapping[str, str] | None,
    flags_given: Mapping[str, object] | None,
    flag_names: Mapping[str, str] | None,
    error: type[ValueError],
) -> Resolved[Settings]:
    """The standard stack: defaults < ``file_values`` (read from ``file``) < VOICECTL_*
    variables (``os.environ`` when ``env`` is None) < flags. A flag given as None, or a
    mapping of only such flags, was not given."""
    layers: list[Layer] = []
    if file_values is not None:
        layers.append(Layer("file", file_values, file=file))
    try:
        layers.append(environment_layer(settings_cls, env))
    except SettingsError as exc:  # e.g. VOICECTL_LLM='{not json'
        field = re.search(r'field "(\w+)"', str(exc))
        name = env_name(field.group(1)) if field else "a VOICECTL_* variable"
        raise error(
            f"environment: {name} must be a JSON object; or set one key, e.g. "
            f"{name}{ENV_NESTED}KEY=value"
        ) from None
    layers.append(Layer("flag", _given(flags_given or {}), flags=flag_names or {}))
    return resolve(settings_cls, layers, error)


def _given(values: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            value = _given(value)
            if not value:
                continue
        if value is not None:
            out[key] = value
    return out


def _merge(
    into: dict[str, Any],
    values: Mapping[str, object],
    layer: Layer,
    owners: dict[str, Layer],
    *,
    prefix: str,
) -> None:
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        current = into.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            _merge(current, value, layer, owners, prefix=dotted + ".")
            continue
        into[key] = dict(value) if isinstance(value, Mapping) else value
        for known in [k for k in owners if k.startswith(dotted + ".")]:
            del owners[known]
        if isinstance(value, Mapping) and value:
            for leaf in _leaves(value, dotted):
                owners[leaf] = layer
        else:
            owners[dotted] = layer


def _leaves(values: Mapping[str, object], prefix: str) -> list[str]:
    out: list[str] = []
    for key, value in values.items():
        dotted = f"{prefix}.{key}"
        out.extend(_leaves(value, dotted) if isinstance(value, Mapping) and value else [dotted])
    return out


def describe(
    error: ErrorDetails, root: type[BaseModel], owners: Mapping[str, Layer] | None = None
) -> str:
    """One line naming what the user typed and what is allowed."""
    # Dict keys and list indices belong to the value, not to the key the user wrote.
    path = [str(part) for part in error["loc"] if part != "[key]" and not isinstance(part, int)]
    key = ".".join(path)
    given = owners or {}
    layer = next((given[k] for k in (key, *_parents(key)) if k in given), Layer("file", {}))
    at = f"{layer.file}: " if layer.kind == "file" and layer.file is not None else ""
    if layer.kind == "environment":
        at = "environment: "
    if error["type"] == "extra_forbidden":
        parent = _model_at(root, path[:-1])
        known = ", ".join(parent.model_fields) if parent is not None else ""
        return f"{at}unknown key {key!r}; known keys: {known}"
    label = layer.spelled(key)
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


def hide_password(value: object) -> object:
    """``redis://:secret@host`` -> ``redis://:***@host``: shown, never leaked."""
    if not isinstance(value, str) or "@" not in value or "://" not in value:
        return value
    parts = urlsplit(value)
    if parts.password is None:
        return value
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


SECRET_KEYS = ("token", "admin_token", "tokens", "registry_secret")


def shown_value(key: str, value: object) -> object:
    """A value as ``config show`` and logs print it: tokens as ``***``, URL passwords hidden."""
    if key.rsplit(".", 1)[-1] in SECRET_KEYS and value not in (None, "", (), []):
        return ["***" for _ in value] if isinstance(value, list | tuple) else "***"
    return hide_password(value)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps a service on this machine."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def flatten(values: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """Nested mappings as dotted keys (``llm.model``), for tables and ``--json``."""
    out: dict[str, object] = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out
