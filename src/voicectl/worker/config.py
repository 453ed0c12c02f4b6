"""Worker configuration: defaults < YAML < environment (VOICECTL_*) < CLI flags.

``WorkerSettings`` defines each key once, with what it accepts; a typo in
configs/worker.yaml fails at start, with an error naming the file and key, the
variable or the flag. ``WorkerConfig`` is the resolved value the worker runs on.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_settings import NoDecode

from voicectl.config_errors import allowed, check_tls_pair, comma_list, readable_file
from voicectl.config_layers import LayeredSettings, Resolved, resolve_layers
from voicectl.worker.catalog import DEFAULT_MODEL_ID
from voicectl.worker.memory import parse_size
from voicectl.yamlfile import read_mapping


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range."""


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    host: str = "127.0.0.1"
    port: int = 50051
    default_model: str = DEFAULT_MODEL_ID
    preload: tuple[str, ...] = ()
    ttl_seconds: float | None = 300.0
    max_loaded: int = 3
    memory_budget_bytes: int | None = None
    warmup: bool = True
    voicepacks_dir: Path | None = None
    # peft LoRA adapters (a folder of them, or one) for the model that takes LoRA.
    lora_path: Path | None = None
    target_rms_dbfs: float = -20.0
    lookahead_ms: int = 1000
    drain_seconds: float = 5.0
    mock_rtf: float = 0.02
    # Scale-out (docs/registry.md): Redis registration, heartbeats, GPUs.
    redis_url: str | None = None
    registry_prefix: str = "voicectl"
    advertise_host: str | None = None
    worker_id: str | None = None
    heartbeat_seconds: float = 2.0
    registry_ttl_seconds: float | None = None  # None = 3 x heartbeat_seconds
    gpus: tuple[int, ...] = ()
    # Prometheus /metrics port; None = off, 0 = any free port (logged).
    metrics_port: int | None = None
    # Bearer tokens (docs/security.md): every RPC but health needs ``token`` when it is set;
    # LoadModel/UnloadModel need ``admin_token`` when that is set.
    token: str | None = None
    admin_token: str | None = None
    # Signs this worker's registry records (HMAC); routers with the same secret drop others.
    registry_secret: str | None = None
    # TLS on the gRPC port (PEM files); with tls_client_ca only clients it signed get in.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None

    @property
    def registry_ttl(self) -> float:
        if self.registry_ttl_seconds is not None:
            return self.registry_ttl_seconds
        return 3 * self.heartbeat_seconds


def detect_gpus() -> tuple[int, ...]:
    """GPU indices listed by ``nvidia-smi -L`` (empty when there is none)."""
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(range(sum(1 for line in listing.splitlines() if line.startswith("GPU "))))


_D = WorkerConfig()
OFF = {"", "none", "off", "null"}
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Secret = Annotated[str, StringConstraints(strip_whitespace=True, min_length=16)]
SECRET_TEXT = allowed("a token of 16+ characters (e.g. openssl rand -hex 24)")
PEM_FILE = allowed("the path of a readable PEM file, or none")
TLS_FILES = ("tls_cert", "tls_key", "tls_client_ca")
# The key as users write it -> the WorkerConfig attribute, where the two differ.
RUNTIME_NAMES = {
    "ttl": "ttl_seconds",
    "memory_budget": "memory_budget_bytes",
    "redis": "redis_url",
    "heartbeat": "heartbeat_seconds",
    "registry_ttl": "registry_ttl_seconds",
    "gpu": "gpus",
}


def _is_off(value: object) -> bool:
    """None, "none", "off"...; and False, which is what YAML makes of a bare ``off``."""
    return (
        value is None or value is False or (isinstance(value, str) and value.strip().lower() in OFF)
    )


class WorkerSettings(LayeredSettings):
    """Every worker key, once, with what it accepts (configs/worker.yaml documents them)."""

    host: Text = _D.host
    port: int = Field(_D.port, ge=0, le=65535)
    default_model: Text = _D.default_model
    preload: Annotated[tuple[str, ...], NoDecode] = Field(
        _D.preload, json_schema_extra=allowed("a list of model ids or a comma-separated string")
    )
    ttl: float | None = Field(
        _D.ttl_seconds, json_schema_extra=allowed("seconds in 0.01..604800, or 0/never")
    )
    max_loaded: int = Field(_D.max_loaded, ge=1, le=64)
    memory_budget: int | None = Field(
        _D.memory_budget_bytes, json_schema_extra=allowed("a size such as 4GiB, or none")
    )
    warmup: bool = _D.warmup
    voicepacks_dir: Path | None = _D.voicepacks_dir
    lora_path: Path | None = _D.lora_path
    target_rms_dbfs: float = Field(_D.target_rms_dbfs, ge=-40.0, le=-6.0)
    lookahead_ms: int = Field(_D.lookahead_ms, ge=100, le=10_000)
    drain_seconds: float = Field(_D.drain_seconds, ge=0.0, le=600.0)
    mock_rtf: float = Field(_D.mock_rtf, ge=0.0, le=10.0)
    redis: str | None = Field(
        _D.redis_url,
        json_schema_extra=allowed("a URL starting with " + ", ".join(REDIS_SCHEMES)),
    )
    registry_prefix: Text = _D.registry_prefix
    advertise_host: Text | None = _D.advertise_host
    worker_id: Text | None = _D.worker_id
    heartbeat: float = Field(_D.heartbeat_seconds, ge=0.05, le=300.0)
    registry_ttl: float | None = Field(
        _D.registry_ttl_seconds, json_schema_extra=allowed("seconds in 0.1..3600, or auto")
    )
    gpu: Annotated[tuple[int, ...], NoDecode] = Field(
        _D.gpus, json_schema_extra=allowed("'all' or comma-separated GPU indices 0..63 (0,1)")
    )
    metrics_port: int | None = Field(_D.metrics_port, ge=0, le=65535)
    token: Secret | None = Field(_D.token, json_schema_extra=SECRET_TEXT)
    admin_token: Secret | None = Field(_D.admin_token, json_schema_extra=SECRET_TEXT)
    registry_secret: Secret | None = Field(_D.registry_secret, json_schema_extra=SECRET_TEXT)
    tls_cert: Path | None = Field(_D.tls_cert, json_schema_extra=PEM_FILE)
    tls_key: Path | None = Field(_D.tls_key, json_schema_extra=PEM_FILE)
    tls_client_ca: Path | None = Field(_D.tls_client_ca, json_schema_extra=PEM_FILE)

    _preload = field_validator("preload", mode="before")(comma_list)

    @field_validator("ttl", mode="before")
    @classmethod
    def _ttl_off(cls, value: object) -> object:
        """0, none, never or off: no idle eviction."""
        if _is_off(value) or str(value).strip().lower() in {"never", "0", "0.0"}:
            return None
        return value

    @field_validator("ttl")
    @classmethod
    def _ttl_range(cls, value: float | None) -> float | None:
        if value is not None and not 0.01 <= value <= 7 * 24 * 3600:
            raise ValueError(f"must be in 0.01..604800 seconds (or 0/never), got {value:g}")
        return value

    @field_validator("memory_budget", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        if _is_off(value):
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return parse_size(str(value))
        except ValueError as exc:
            raise ValueError(f"is not a size: {exc}") from None

    @field_validator(
        "redis",
        "advertise_host",
        "worker_id",
        "metrics_port",
        "token",
        "admin_token",
        "registry_secret",
        "voicepacks_dir",
        "lora_path",
        *TLS_FILES,
        mode="before",
    )
    @classmethod
    def _optional(cls, value: object) -> object:
        return None if _is_off(value) else value

    @field_validator("redis")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip().startswith(REDIS_SCHEMES):
            raise ValueError(
                f"must be a URL starting with {', '.join(REDIS_SCHEMES)} "
                f"(e.g. redis://:password@host:6379/0), got {value!r}"
            )
        return None if value is None else value.strip()

    @field_validator("registry_ttl", mode="before")
    @classmethod
    def _auto_ttl(cls, value: object) -> object:
        return None if _is_off(value) or str(value).strip().lower() == "auto" else value

    @field_validator("registry_ttl")
    @classmethod
    def _registry_ttl_range(cls, value: float | None) -> float | None:
        if value is not None and not 0.1 <= value <= 3600:
            raise ValueError(f"must be in 0.1..3600 seconds (or auto), got {value:g}")
        return value

    @field_validator("gpu", mode="before")
    @classmethod
    def _gpus(cls, value: object) -> tuple[int, ...]:
        """``0``, ``0,1``, ``[0, 1]``, ``all`` (every GPU nvidia-smi lists) or none."""
        if _is_off(value):
            return ()
        if isinstance(value, str) and value.strip().lower() == "all":
            found = detect_gpus()
            if not found:
                raise ValueError("is 'all', but nvidia-smi -L found no GPU; give indices")
            return found
        given = value.split(",") if isinstance(value, str) else value
        items: list[object] = list(given) if isinstance(given, list | tuple) else [given]
        text = [str(item).strip() for item in items]
        if any(
            isinstance(i, bool) or not t.isdigit() or int(t) > 63
            for i, t in zip(items, text, strict=True)
        ):
            raise ValueError(
                f"must be 'all' or comma-separated GPU indices 0..63 (e.g. 0,1), got {value!r}"
            )
        if len(set(text)) != len(text):
            raise ValueError(f"lists an index twice: {value!r}")
        return tuple(int(t) for t in text)

    _readable = field_validator(*TLS_FILES)(readable_file)

    @model_validator(mode="after")
    def _tls_pair(self) -> WorkerSettings:
        check_tls_pair(self.tls_cert, self.tls_key)
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError("tls_client_ca needs tls_cert and tls_key: mutual TLS is TLS first")
        return self

    def to_config(self) -> WorkerConfig:
        return WorkerConfig(**{RUNTIME_NAMES.get(k, k): v for k, v in self})


def read_yaml(path: Path) -> dict[str, object]:
    data = read_mapping(path, ConfigError)
    section = data.get("worker", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: 'worker' must be a mapping")
    values = {str(k): v for k, v in section.items()}
    for key in ("voicepacks_dir", "lora_path", *TLS_FILES):
        given = values.get(key)
        if isinstance(given, str) and given.lower() not in OFF and not Path(given).is_absolute():
            # A path in a file means a path next to that file, wherever the command runs.
            values[key] = str(path.parent / given)
    return values


def resolve_worker_config(
    *,
    yaml_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    cli: Mapping[str, object] | None = None,
    flags: Mapping[str, str] | None = None,
) -> Resolved[WorkerSettings]:
    """The layers merged in precedence order, with where each value came from.

    CLI values of None mean "not given"; ``flags`` spells a key's flag where it is not
    ``--`` + the key with dashes (``voicepacks_dir`` is ``--voicepacks``).
    """
    return resolve_layers(
        WorkerSettings, file=yaml_path,
        file_values=None if yaml_path is None else read_yaml(yaml_path),
        env=env, flags_given=cli, flag_names=flags, error=ConfigError,
    )  # fmt: skip


def load_worker_config(
    *,
    yaml_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    cli: Mapping[str, object] | None = None,
    flags: Mapping[str, str] | None = None,
) -> WorkerConfig:
    """Defaults < YAML < environment < CLI flags, validated (``ConfigError`` names the key)."""
    resolved = resolve_worker_config(yaml_path=yaml_path, env=env, cli=cli, flags=flags)
    return resolved.settings.to_config()


def config_to_mapping(config: WorkerConfig) -> dict[str, object]:
    """The config as YAML/env keys, so that ``load_worker_config`` reads it back unchanged
    (the supervisor hands a resolved config to its child processes this way)."""
    out: dict[str, object] = {}
    defaults = WorkerConfig()
    for key in WorkerSettings.model_fields:
        name = RUNTIME_NAMES.get(key, key)
        value = getattr(config, name)
        if value is None and getattr(defaults, name) is None:
            continue
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Path):
            value = str(value)
        elif value is None:
            value = "none"
        out[key] = value
    return out
