"""A forged record in a real Redis is not routed to when the registry has a secret."""

from __future__ import annotations

from tests.integration.registry.conftest import RedisServer, RegisteredFactory, wait_until
from voicectl.registry.base import WorkerRecord
from voicectl.registry.redis_backend import RedisRegistry

SECRET = "registry-secret-0123456789"


async def test_only_signed_records_are_listed(
    redis_server: RedisServer, prefix: str, make_registered: RegisteredFactory
) -> None:
    signed = await RedisRegistry.connect(redis_server.url, prefix=prefix, secret=SECRET)
    open_reader = await RedisRegistry.connect(redis_server.url, prefix=prefix)
    try:
        _, registration = await make_registered(target=signed)
        real = registration.settings.worker_id
        forged = WorkerRecord(
            worker_id="evil", host="127.0.0.1", port=9, known_models=("mock:sine",)
        )
        await open_reader.register(forged, ttl=30)  # what anyone with Redis access can write

        async def both_written() -> bool:
            return len(await open_reader.list_workers()) == 2

        await wait_until(both_written)
        assert {r.worker_id for r in await signed.list_workers()} == {real}
        found = await signed.scan()
        assert "unsigned record" in found.malformed[signed.keys.worker("evil")]
        # A reader without the secret still sees both: the secret must be set on both sides.
        assert {r.worker_id for r in await open_reader.list_workers()} == {real, "evil"}
    finally:
        await signed.close()
        await open_reader.close()
