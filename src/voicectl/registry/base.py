"""The registry contract: which workers exist, where they listen, and how loaded they are.

``WorkerRecord`` is what a worker advertises (and what routing reads); ``Registry``
is the interface both backends implement (``memory.StaticRegistry`` for a fixed
``--worker HOST:PORT`` list, ``redis_backend.RedisRegistry`` for self-registration
with heartbeats). Parsing and validation of records is pure and lives here, so a
malformed entry written by someone else is rejected with a message that names the
field, and the backend can skip it with a warning.
"""

from __future__ import annotations

import abc
import enum
import json
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Self

RECORD_SCHEMA = 1
# Model states that count as "resident" (the model is in memory or about to be).
RESIDENT_STATES = frozenset({"ready", "loading"})


class RegistryError(Exception):
    """The registry backend failed (unreachable, refused, bad URL)."""


class RegistryUnavailable(RegistryError):
    """The registry backend cannot be reached."""


class RecordError(ValueError):
    """A registry entry is not a valid WorkerRecord; the message names the field."""


@dataclass(frozen=True, kw_only=True)
class WorkerRecord:
    """One worker process as advertised in the registry.

    ``models`` maps model id to state (``ready``, ``loading``, ``unloading``,
    ``failed``) for models that are not merely available; ``known_models`` lists
    every model id the worker can load. Load is ``active_sessions`` (streams
    running or waiting for their model) plus ``queue_depth`` (streams waiting for
    a model load); ``mean_latency_ms`` is the recent mean time from a Synthesize
    call to its first frame.
    """

    worker_id: str
    host: str
    port: int
    gpu: int | None = None
    adapters: tuple[str, ...] = ()
    models: Mapping[str, str] = field(default_factory=dict)
    known_models: tuple[str, ...] = ()
    default_model: str = ""
    active_sessions: int = 0
    queue_depth: int = 0
    mean_latency_ms: float = 0.0
    version: str = ""
    pid: int = 0
    started_at: float = 0.0
    last_heartbeat: float = 0.0

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def load(self) -> int:
        return self.active_sessions + self.queue_depth

    def holds(self, model_id: str) -> bool:
        """Whether the model is resident (ready or loading) on this worker."""
        return self.models.get(model_id) in RESIDENT_STATES

    def can_serve(self, model_id: str) -> bool:
        """Whether the worker knows the model ("" means the worker's default)."""
        if not model_id:
            return True
        return model_id in self.known_models or model_id in self.models

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["models"] = dict(self.models)
        data["adapters"] = list(self.adapters)
        data["known_models"] = list(self.known_models)
        data["schema"] = RECORD_SCHEMA
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: object) -> Self:
        """Validate a decoded entry; RecordError names the first bad field."""
        if not isinstance(data, dict):
            raise RecordError(f"a worker record must be a JSON object, got {type(data).__name__}")
        schema = data.get("schema", RECORD_SCHEMA)
        if schema != RECORD_SCHEMA:
            raise RecordError(f"schema must be {RECORD_SCHEMA}, got {schema!r}")
        return cls(
            worker_id=_str(data, "worker_id", required=True),
            host=_str(data, "host", required=True),
            port=_int(data, "port", 1, 65535),
            gpu=_gpu(data),
            adapters=_str_list(data, "adapters"),
            models=_models(data),
            known_models=_str_list(data, "known_models"),
            default_model=_str(data, "default_model"),
            active_sessions=_int(data, "active_sessions", 0, 1_000_000),
            queue_depth=_int(data, "queue_depth", 0, 1_000_000),
            mean_latency_ms=_float(data, "mean_latency_ms"),
            version=_str(data, "version"),
            pid=_int(data, "pid", 0, 2**31),
            started_at=_float(data, "started_at"),
            last_heartbeat=_float(data, "last_heartbeat"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Self:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecordError(f"not JSON: {exc}") from None
        return cls.from_dict(data)


def _str(data: Mapping[str, object], key: str, *, required: bool = False) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise RecordError(f"{key} must be a non-empty string, got {value!r}")
    return value


def _int(data: Mapping[str, object], key: str, low: int, high: int) -> int:
    value = data.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RecordError(f"{key} must be an integer in {low}..{high}, got {value!r}")
    return value


def _float(data: Mapping[str, object], key: str) -> float:
    value = data.get(key, 0.0)
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
    ):
        raise RecordError(f"{key} must be a finite number >= 0, got {value!r}")
    return float(value)


def _str_list(data: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(f"{key} must be a list of strings, got {value!r}")
    return tuple(value)


def _gpu(data: Mapping[str, object]) -> int | None:
    gpu = data.get("gpu")
    if gpu is not None and (not isinstance(gpu, int) or isinstance(gpu, bool) or gpu < 0):
        raise RecordError(f"gpu must be null or an integer >= 0, got {gpu!r}")
    return gpu


def _models(data: Mapping[str, object]) -> dict[str, str]:
    models = data.get("models", {})
    if not isinstance(models, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in models.items()
    ):
        raise RecordError(f"models must map model ids to state strings, got {models!r}")
    return dict(models)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) -> (host, port); ValueError names the problem."""
    host, sep, port_text = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"worker address must be HOST:PORT with a port in 1..65535, got {text!r}")
    return host, int(port_text)


class ChangeKind(enum.Enum):
    UPDATED = "updated"  # registered or heartbeated (new or changed record)
    REMOVED = "removed"  # deregistered, expired or pruned


@dataclass(frozen=True, kw_only=True)
class RegistryChange:
    kind: ChangeKind
    worker_id: str


class Registry(abc.ABC):
    """Where workers are found. Both backends are used as async context managers."""

    @abc.abstractmethod
    async def register(self, record: WorkerRecord, *, ttl: float) -> None:
        """Add or replace ``record``; it vanishes after ``ttl`` seconds without a heartbeat."""

    @abc.abstractmethod
    async def heartbeat(self, record: WorkerRecord, *, ttl: float) -> None:
        """Refresh ``record`` (with its live load) and its TTL."""

    @abc.abstractmethod
    async def deregister(self, worker_id: str) -> None:
        """Remove a worker at once (clean shutdown)."""

    @abc.abstractmethod
    async def list_workers(self) -> list[WorkerRecord]:
        """Live workers, sorted by worker id. Malformed entries are skipped with a warning."""

    @abc.abstractmethod
    def changes(self) -> AsyncIterator[RegistryChange]:
        """Change notifications, as they happen. Expiry is not announced by every backend:
        watchers should also re-list periodically (``watch_interval``)."""

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release connections."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
