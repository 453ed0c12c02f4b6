"""The Redis backend against a real redis-server: keys, TTLs, heartbeats, bad entries."""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import suppress

import pytest

from tests.integration.registry.conftest import (
    RedisServer,
    RegisteredFactory,
    free_port,
    wait_until,
    workers_of,
)
from voicectl.registry.base import (
    ChangeKind,
    RegistryChange,
    RegistryError,
    RegistryUnavailable,
    WorkerRecord,
)
from voicectl.registry.redis_backend import RedisRegistry, redact_url
from voicectl.registry.watch import watch_workers


def record(worker_id: str = "w1", **fields: object) -> WorkerRecord:
    return WorkerRecord(worker_id=worker_id, host="127.0.0.1", port=50051, **fields)  # type: ignore[arg-type]


async def test_keys_reflect_registration_heartbeat_and_expiry(registry: RedisRegistry) -> None:
    client, keys = registry.client, registry.keys
    await registry.register(record(active_sessions=1, models={"mock:sine": "ready"}), ttl=0.6)
    assert await client.smembers(keys.index) == {b"w1"}
    raw = await client.get(keys.worker("w1"))
    assert raw is not None
    stored = json.loads(raw)
    assert stored["models"] == {"mock:sine": "ready"}
    assert stored["active_sessions"] == 1
    assert 0 < await client.pttl(keys.worker("w1")) <= 600

    # A heartbeat rewrites the record and restores the full TTL.
    await asyncio.sleep(0.3)
    before = await client.pttl(keys.worker("w1"))
    await registry.heartbeat(record(active_sessions=3), ttl=0.6)
    assert await client.pttl(keys.worker("w1")) > before
    assert [r.active_sessions for r in await registry.list_workers()] == [3]

    # Without heartbeats the record expires by itself; listing skips the stale index entry.
    await wait_until(lambda: _gone(registry, "w1"), timeout=5)
    assert await client.sismember(keys.index, "w1")
    found = await registry.prune()
    assert found.stale == ["w1"]
    assert not await client.sismember(keys.index, "w1")


async def _gone(registry: RedisRegistry, worker_id: str) -> bool:
    return worker_id not in await workers_of(registry)


async def test_deregister_removes_at_once_and_notifies(registry: RedisRegistry) -> None:
    seen: list[RegistryChange] = []

    async def listen() -> None:
        async for change in registry.changes():
            seen.append(change)

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.1)  # let the subscription land
    await registry.register(record("w2"), ttl=10)
    await registry.deregister("w2")
    assert await registry.list_workers() == []
    await wait_until(lambda: _true(len(seen) >= 2), timeout=5)
    listener.cancel()
    with suppress(asyncio.CancelledError):
        await listener
    assert seen == [
        RegistryChange(kind=ChangeKind.UPDATED, worker_id="w2"),
        RegistryChange(kind=ChangeKind.REMOVED, worker_id="w2"),
    ]


async def _true(value: bool) -> bool:
    return value


async def test_worker_registration_and_clean_deregistration(
    registry: RedisRegistry, make_registered: RegisteredFactory
) -> None:
    worker, registration = await make_registered()
    workers = await workers_of(registry)
    entry = workers[registration.settings.worker_id]
    assert entry.address == worker.address
    assert entry.models == {"mock:fast": "ready"}
    assert entry.default_model == "mock:fast"
    assert set(entry.known_models) == {"mock:sine", "mock:slow", "mock:fast"}
    assert entry.adapters == ("mock",)

    await worker.manager.load("mock:slow")
    await wait_until(lambda: _holds(registry, registration.settings.worker_id, "mock:slow"))

    await registration.stop()
    assert await registry.list_workers() == []


async def _holds(registry: RedisRegistry, worker_id: str, model_id: str) -> bool:
    found = (await workers_of(registry)).get(worker_id)
    return found is not None and found.holds(model_id)


async def test_restarted_redis_is_repopulated_by_live_workers(
    make_registered: RegisteredFactory, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(free_port())
    server.start()
    try:
        own = await RedisRegistry.connect(server.url, prefix=prefix, timeout=0.5)
        async with own:
            _, first = await make_registered(target=own)
            _, second = await make_registered(target=own)
            ids = {first.settings.worker_id, second.settings.worker_id}
            assert set(await workers_of(own)) == ids

            server.stop()  # an empty Redis comes back on the same port
            with caplog.at_level(logging.WARNING), pytest.raises(RegistryUnavailable):
                await own.list_workers()
            server.start()
            await wait_until(lambda: _ids_are(own, ids), timeout=10)
    finally:
        server.stop()


async def _ids_are(registry: RedisRegistry, ids: set[str]) -> bool:
    with suppress(RegistryError):
        return set(await workers_of(registry)) == ids
    return False


async def test_malformed_entries_are_skipped_with_one_warning(
    registry: RedisRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    client, keys = registry.client, registry.keys
    await registry.register(record("good"), ttl=10)
    bad = {
        "not-json": b"{oops",
        "not-object": b"[1, 2]",
        "bad-port": json.dumps({"worker_id": "bad-port", "host": "h", "port": "x"}).encode(),
        "wrong-id": record("someone-else").to_json().encode(),
        "binary": b"\xff\xfe\x00",
        "future": json.dumps({**record("future").to_dict(), "schema": 99}).encode(),
    }
    for worker_id, raw in bad.items():
        await client.set(keys.worker(worker_id), raw)
        await client.sadd(keys.index, worker_id)
    await client.sadd(keys.index, b"\xff-undecodable")
    with caplog.at_level(logging.WARNING, logger="voicectl.registry.redis_backend"):
        assert [r.worker_id for r in await registry.list_workers()] == ["good"]
        assert [r.worker_id for r in await registry.list_workers()] == ["good"]
    warnings = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(warnings) == len(bad)  # once per entry, not per listing
    assert any("port must be an integer" in w for w in warnings)
    assert any("does not match its key" in w for w in warnings)

    found = await registry.prune()
    assert set(found.malformed) == {keys.worker(k) for k in bad}
    assert [r.worker_id for r in await registry.list_workers()] == ["good"]
    assert await client.exists(*(keys.worker(k) for k in bad)) == 0


async def test_garbage_on_the_event_channel_does_not_break_watchers(
    registry: RedisRegistry,
) -> None:
    updates = watch_workers(registry, interval=0.2)
    assert await anext(updates) == []
    await registry.client.publish(registry.keys.channel, b"garbage")
    await registry.register(record("w3"), ttl=10)
    latest = await anext(updates)
    while not latest:
        latest = await anext(updates)
    assert isinstance(latest, list)
    assert [r.worker_id for r in latest] == ["w3"]
    await updates.aclose()  # type: ignore[attr-defined]


async def test_unreachable_redis_is_a_clear_error() -> None:
    port = free_port()
    with pytest.raises(RegistryUnavailable, match=rf"127\.0\.0\.1:{port}.*redis-server"):
        await RedisRegistry.connect(f"redis://:s3cret@127.0.0.1:{port}/0", timeout=1)
    with pytest.raises(RegistryUnavailable) as caught:
        await RedisRegistry.connect(f"redis://:s3cret@127.0.0.1:{port}/0", timeout=1)
    assert "s3cret" not in str(caught.value)
    with pytest.raises(RegistryError, match="bad Redis URL"):
        await RedisRegistry.connect("http://example.invalid/")


def test_redact_url() -> None:
    assert redact_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("rediss://user:pw@h/1") == "rediss://user:***@h/1"
    assert redact_url("redis://h:6379") == "redis://h:6379"


async def test_password_url(prefix: str) -> None:
    server = RedisServer(free_port())
    server.start()
    try:
        open_url = server.url
        plain = await RedisRegistry.connect(open_url)
        await plain.client.config_set("requirepass", "s3cret")
        await plain.close()
        with pytest.raises(RegistryUnavailable, match=r"Authentication|NOAUTH|password"):
            await RedisRegistry.connect(open_url, prefix=prefix)
        secured = await RedisRegistry.connect(
            f"redis://:s3cret@127.0.0.1:{server.port}/0", prefix=prefix
        )
        async with secured:
            await secured.register(record("pw"), ttl=5)
            assert [r.worker_id for r in await secured.list_workers()] == ["pw"]
    finally:
        server.stop()
