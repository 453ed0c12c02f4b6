"""The Redis registry: workers self-register with a TTL and heartbeat; everyone can list.

Key schema (``prefix`` defaults to ``voicectl``; documented in docs/registry.md):

- ``<prefix>:worker:<worker_id>``: the WorkerRecord as a JSON string, written with
  ``SET ... PX <ttl>`` on register and on every heartbeat, so a worker that stops
  heartbeating vanishes by itself after one TTL.
- ``<prefix>:workers``: a SET of worker ids (the index). Members whose record key
  has expired are skipped when listing and removed by ``prune``.
- ``<prefix>:events``: a pub/sub channel; each write publishes
  ``{"kind": "updated"|"removed", "worker_id": ...}``. Expiry is not published:
  watchers re-list periodically as well.

Redis errors become ``RegistryUnavailable`` with the URL (password hidden);
entries that do not parse are skipped with one warning each, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Self, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from voicectl.config_errors import redact_url
from voicectl.registry.base import (
    ChangeKind,
    RecordError,
    Registry,
    RegistryChange,
    RegistryError,
    RegistryUnavailable,
    WorkerRecord,
)
from voicectl.registry.signing import sign, verify

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "voicectl"
DEFAULT_URL = "redis://127.0.0.1:6379/0"
T = TypeVar("T")


@dataclass(frozen=True)
class KeySchema:
    prefix: str = DEFAULT_PREFIX

    @property
    def index(self) -> str:
        return f"{self.prefix}:workers"

    @property
    def channel(self) -> str:
        return f"{self.prefix}:events"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}"


@dataclass
class ListResult:
    """What a scan of the registry found: live records, stale ids, malformed keys."""

    records: list[WorkerRecord] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # in the index, record expired
    malformed: dict[str, str] = field(default_factory=dict)  # key -> reason


def parse_entry(key_id: str, raw: bytes, secret: str | None = None) -> WorkerRecord:
    """Parse one stored record; RecordError when it is not ours or does not match its key,
    or, with a ``secret``, when it is unsigned or its signature does not match."""
    if secret:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecordError(f"not JSON: {exc}") from None
        record = WorkerRecord.from_dict(verify(key_id, data, secret))
    else:
        record = WorkerRecord.from_json(raw)
    if record.worker_id != key_id:
        raise RecordError(f"worker_id {record.worker_id!r} does not match its key id {key_id!r}")
    return record


class RedisRegistry(Registry):
    """``async with await RedisRegistry.connect("redis://...") as registry: ...``"""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        secret: str | None = None,
    ) -> None:
        self.client = client
        self.url = redact_url(url)
        self.secret = secret or None  # sign what we write, refuse what is not signed
        self.keys = KeySchema(prefix)
        self._warned: set[str] = set()

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 3.0,
        secret: str | None = None,
    ) -> Self:
        """Connect and PING; RegistryUnavailable with an actionable message otherwise.

        ``redis://[user:password@]host:port/db``, ``rediss://`` for TLS (certificate
        options as URL query parameters, e.g. ``?ssl_cert_reqs=none``), ``unix://``.
        """
        try:
            client = aioredis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        except ValueError as exc:
            raise RegistryError(
                f"bad Redis URL {redact_url(url)}: {exc} "
                "(use redis://[:password@]host:port/db or rediss:// for TLS)"
            ) from None
        registry = cls(client, url=url, prefix=prefix, secret=secret)
        try:
            await registry._run(client.ping())
        except RegistryError:
            await registry.close()
            raise
        return registry

    async def close(self) -> None:
        await self.client.aclose()

    async def _run(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except RedisError as exc:
            raise RegistryUnavailable(
                f"Redis at {self.url} failed: {type(exc).__name__}: {exc}; "
                "check that redis-server runs there and the URL, password and TLS are right"
            ) from None
        except OSError as exc:
            raise RegistryUnavailable(f"Redis at {self.url} is unreachable: {exc}") from None

    # ------------------------------------------------------------------ writes

    async def register(self, record: WorkerRecord, *, ttl: float) -> None:
        await self.heartbeat(record, ttl=ttl)

    async def heartbeat(self, record: WorkerRecord, *, ttl: float) -> None:
        event = json.dumps({"kind": ChangeKind.UPDATED.value, "worker_id": record.worker_id})
        pipe = self.client.pipeline(transaction=True)
        value = (
            sign(record.worker_id, record.to_dict(), self.secret)
            if self.secret
            else record.to_json()
        )
        pipe.set(self.keys.worker(record.worker_id), value, px=max(1, int(ttl * 1000)))
        pipe.sadd(self.keys.index, record.worker_id)
        pipe.publish(self.keys.channel, event)
        await self._run(pipe.execute())

    async def deregister(self, worker_id: str) -> None:
        event = json.dumps({"kind": ChangeKind.REMOVED.value, "worker_id": worker_id})
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self.keys.worker(worker_id))
        pipe.srem(self.keys.index, worker_id)
        pipe.publish(self.keys.channel, event)
        await self._run(pipe.execute())

    # ------------------------------------------------------------------- reads

    async def scan(self) -> ListResult:
        members = await self._run(self.client.smembers(self.keys.index))
        ids = sorted(_text(m) for m in members)
        result = ListResult()
        if not ids:
            return result
        values = await self._run(self.client.mget([self.keys.worker(i) for i in ids]))
        for worker_id, raw in zip(ids, values, strict=True):
            if raw is None:
                result.stale.append(worker_id)
                continue
            data = raw.encode() if isinstance(raw, str) else raw
            try:
                result.records.append(parse_entry(worker_id, data, self.secret))
            except RecordError as exc:
                result.malformed[self.keys.worker(worker_id)] = str(exc)
                self._warn_once(self.keys.worker(worker_id), data, str(exc))
        return result

    async def list_workers(self) -> list[WorkerRecord]:
        return (await self.scan()).records

    def _warn_once(self, key: str, raw: bytes, reason: str) -> None:
        digest = hashlib.sha1(key.encode() + b"\0" + raw, usedforsecurity=False).hexdigest()
        if digest in self._warned:
            return
        if len(self._warned) > 10_000:
            self._warned.clear()
        self._warned.add(digest)
        log.warning("ignoring malformed registry entry %s: %s", key, reason)

    async def prune(self, *, dry_run: bool = False) -> ListResult:
        """Remove expired index members and malformed entries; returns what was found."""
        found = await self.scan()
        if dry_run or not (found.stale or found.malformed):
            return found
        pipe = self.client.pipeline(transaction=False)
        for worker_id in found.stale:
            pipe.srem(self.keys.index, worker_id)
        prefix = self.keys.worker("")
        for key in found.malformed:
            pipe.delete(key)
            pipe.srem(self.keys.index, key.removeprefix(prefix))
        await self._run(pipe.execute())
        return found

    async def changes(self) -> AsyncIterator[RegistryChange]:
        pubsub = self.client.pubsub()
        try:
            await self._run(pubsub.subscribe(self.keys.channel))
            while True:
                message = await self._run(
                    pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                )
                if message is None:
                    continue
                change = _parse_event(message.get("data"))
                if change is None:
                    self._warn_once(self.keys.channel, repr(message).encode(), "bad event")
                    continue
                yield change
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _parse_event(data: object) -> RegistryChange | None:
    try:
        event = json.loads(data) if isinstance(data, bytes | str) else None
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    try:
        return RegistryChange(kind=ChangeKind(event.get("kind")), worker_id=str(event["worker_id"]))
    except (ValueError, KeyError):
        return None
