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
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voicectl.config_errors import allowed, describe
from voicectl.rpc.model_state import ModelState

RECORD_SCHEMA = 1


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
        state = ModelState.from_name(self.models.get(model_id, ""))
        return state is not None and state.resident

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
        try:
            fields = RecordFields.model_validate(data)
        except ValidationError as exc:
            raise RecordError(describe(exc.errors()[0], RecordFields)) from None
        values = fields.model_dump(exclude={"schema_"})
        for key in ("adapters", "known_models"):
            values[key] = tuple(values[key])
        return cls(**values)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Self:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecordError(f"not JSON: {exc}") from None
        return cls.from_dict(data)


Count = Annotated[int, Field(ge=0, le=1_000_000)]
Seconds = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1)]


class RecordFields(BaseModel):
    """What a record may hold, strictly typed: JSON written by another process (or by
    hand) is checked field by field. Unknown fields are ignored, for newer workers."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    schema_: Literal[1] = Field(1, alias="schema")  # RECORD_SCHEMA
    worker_id: Name
    host: Name
    port: int = Field(ge=1, le=65535)
    gpu: int | None = Field(None, ge=0, json_schema_extra=allowed("null or an integer >= 0"))
    adapters: list[str] = Field(default_factory=list)
    models: dict[str, str] = Field(
        default_factory=dict, json_schema_extra=allowed("a mapping of model ids to states")
    )
    known_models: list[str] = Field(default_factory=list)
    default_model: str = ""
    active_sessions: Count = 0
    queue_depth: Count = 0
    mean_latency_ms: Seconds = 0.0
    version: str = ""
    pid: int = Field(0, ge=0, le=2**31)
    started_at: Seconds = 0.0
    last_heartbeat: Seconds = 0.0


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
