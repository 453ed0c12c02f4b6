"""Worker configuration: defaults < YAML < environment (VOICECTL_*) < CLI flags.

Every value is validated here, once, with an error that names the key and what
is allowed, so a typo in configs/worker.yaml fails at start, not mid-session.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

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

    @property
    def registry_ttl(self) -> float:
        if self.registry_ttl_seconds is not None:
            return self.registry_ttl_seconds
        return 3 * self.heartbeat_seconds


def _as_int(key: str, low: int, high: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        try:
            number = int(str(value))
        except ValueError:
            raise ConfigError(f"{key} must be an integer in {low}..{high}, got {value!r}") from None
        if not low <= number <= high:
            raise ConfigError(f"{key} must be in {low}..{high}, got {number}")
        return number

    return parse


def _as_float(key: str, low: float, high: float) -> Callable[[object], float]:
    def parse(value: object) -> float:
        try:
            number = float(str(value))
        except ValueError:
            raise ConfigError(
                f"{key} must be a number in {low:g}..{high:g}, got {value!r}"
            ) from None
        if not low <= number <= high:
            raise ConfigError(f"{key} must be in {low:g}..{high:g}, got {number:g}")
        return number

    return parse


def _as_ttl(value: object) -> float | None:
    """TTL in seconds; 0, 'none' or 'never' disables idle eviction."""
    if value is None or str(value).strip().lower() in {"none", "never", "0", "off"}:
        return None
    return _as_float("ttl_seconds", 0.01, 7 * 24 * 3600.0)(value)


def _as_size(value: object) -> int | None:
    if value is None or str(value).strip().lower() in {"none", "off", ""}:
        return None
    try:
        return parse_size(str(value))
    except ValueError as exc:
        raise ConfigError(f"memory_budget: {exc}") from None


def _as_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(
        f"preload must be a list of model ids or a comma-separated string, got {value!r}"
    )


def _as_bool(key: str) -> Callable[[object], bool]:
    def parse(value: object) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{key} must be true or false, got {value!r}")

    return parse


def _as_str(key: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{key} must be a non-empty string, got {value!r}")
        return value.strip()

    return parse


def _as_optional_str(key: str) -> Callable[[object], str | None]:
    def parse(value: object) -> str | None:
        if value is None or (isinstance(value, str) and value.strip().lower() in {"", "none"}):
            return None
        return _as_str(key)(value)

    return parse


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _as_redis_url(value: object) -> str | None:
    url = _as_optional_str("redis")(value)
    if url is not None and not url.startswith(REDIS_SCHEMES):
        raise ConfigError(
            f"redis must be a URL starting with {', '.join(REDIS_SCHEMES)} "
            f"(e.g. redis://:password@host:6379/0), got {url!r}"
        )
    return url


def detect_gpus() -> tuple[int, ...]:
    """GPU indices listed by ``nvidia-smi -L`` (empty when there is none)."""
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(range(sum(1 for line in listing.splitlines() if line.startswith("GPU "))))


def _as_gpus(value: object) -> tuple[int, ...]:
    """``0``, ``0,1``, ``[0, 1]``, ``all`` (every GPU nvidia-smi lists) or none."""
    if value is None or (isinstance(value, str) and value.strip().lower() in {"", "none"}):
        return ()
    if isinstance(value, str) and value.strip().lower() == "all":
        found = detect_gpus()
        if not found:
            raise ConfigError("gpu 'all' found no GPU (nvidia-smi -L lists none); give indices")
        return found
    items: list[object]
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        items = [value]
    indices: list[int] = []
    for item in items:
        if isinstance(item, bool) or not str(item).isdigit() or int(str(item)) > 63:
            raise ConfigError(
                f"gpu must be 'all' or comma-separated GPU indices 0..63 (e.g. 0,1), got {value!r}"
            )
        indices.append(int(str(item)))
    if len(set(indices)) != len(indices):
        raise ConfigError(f"gpu lists an index twice: {value!r}")
    return tuple(indices)


def _as_registry_ttl(value: object) -> float | None:
    if value is None or str(value).strip().lower() in {"", "none", "auto"}:
        return None
    return _as_float("registry_ttl", 0.1, 3600.0)(value)


def _as_optional_port(value: object) -> int | None:
    if value is None or str(value).strip().lower() in {"", "none", "off"}:
        return None
    return _as_int("metrics_port", 0, 65535)(value)


# YAML / env key -> (dataclass field, parser)
KEYS: dict[str, tuple[str, Callable[[object], object]]] = {
    "host": ("host", _as_str("host")),
    "port": ("port", _as_int("port", 0, 65535)),
    "default_model": ("default_model", _as_str("default_model")),
    "preload": ("preload", _as_list),
    "ttl": ("ttl_seconds", _as_ttl),
    "max_loaded": ("max_loaded", _as_int("max_loaded", 1, 64)),
    "memory_budget": ("memory_budget_bytes", _as_size),
    "warmup": ("warmup", _as_bool("warmup")),
    "voicepacks_dir": ("voicepacks_dir", lambda v: Path(_as_str("voicepacks_dir")(v))),
    "target_rms_dbfs": ("target_rms_dbfs", _as_float("target_rms_dbfs", -40.0, -6.0)),
    "lookahead_ms": ("lookahead_ms", _as_int("lookahead_ms", 100, 10_000)),
    "drain_seconds": ("drain_seconds", _as_float("drain_seconds", 0.0, 600.0)),
    "mock_rtf": ("mock_rtf", _as_float("mock_rtf", 0.0, 10.0)),
    "redis": ("redis_url", _as_redis_url),
    "registry_prefix": ("registry_prefix", _as_str("registry_prefix")),
    "advertise_host": ("advertise_host", _as_optional_str("advertise_host")),
    "worker_id": ("worker_id", _as_optional_str("worker_id")),
    "heartbeat": ("heartbeat_seconds", _as_float("heartbeat", 0.05, 300.0)),
    "registry_ttl": ("registry_ttl_seconds", _as_registry_ttl),
    "gpu": ("gpus", _as_gpus),
    "metrics_port": ("metrics_port", _as_optional_port),
}
ENV_PREFIX = "VOICECTL_"


def _apply(config: WorkerConfig, values: Mapping[str, object], origin: str) -> WorkerConfig:
    changes: dict[str, object] = {}
    for key, value in values.items():
        if key not in KEYS:
            raise ConfigError(f"{origin}: unknown key {key!r}; known keys: {', '.join(KEYS)}")
        name, parse = KEYS[key]
        try:
            changes[name] = parse(value)
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from None
    return replace(config, **changes)  # type: ignore[arg-type]


def read_yaml(path: Path) -> dict[str, object]:
    data = read_mapping(path, ConfigError)
    section = data.get("worker", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: 'worker' must be a mapping")
    return {str(k): v for k, v in section.items()}


def load_worker_config(
    *,
    yaml_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    cli: Mapping[str, object] | None = None,
) -> WorkerConfig:
    """Merge the layers in precedence order; CLI values of None mean "not given"."""
    config = WorkerConfig()
    if yaml_path is not None:
        values = read_yaml(yaml_path)
        pack_dir = values.get("voicepacks_dir")
        if isinstance(pack_dir, str) and pack_dir and not Path(pack_dir).is_absolute():
            # A path in a file means a path next to that file, wherever the command runs.
            values["voicepacks_dir"] = str(yaml_path.parent / pack_dir)
        config = _apply(config, values, str(yaml_path))
    environ = os.environ if env is None else env
    env_values = {
        key: environ[ENV_PREFIX + key.upper()]
        for key in KEYS
        if ENV_PREFIX + key.upper() in environ
    }
    config = _apply(config, env_values, "environment")
    cli_values = {k: v for k, v in (cli or {}).items() if v is not None}
    return _apply(config, cli_values, "command line")


def config_to_mapping(config: WorkerConfig) -> dict[str, object]:
    """The config as YAML/env keys, so that ``load_worker_config`` reads it back unchanged
    (the supervisor hands a resolved config to its child processes this way)."""
    out: dict[str, object] = {}
    defaults = WorkerConfig()
    for key, (name, _) in KEYS.items():
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
