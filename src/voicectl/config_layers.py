"""Configuration layers: defaults < YAML file < VOICECTL_* environment < flags.

Each service defines its keys once, as a pydantic-settings model with each key's range.
This module merges the layers and remembers where every value came from (for
``voicectl config show``); ``config_errors`` words a bad value as the user typed it.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsError,
)

from voicectl.config_errors import describe

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
