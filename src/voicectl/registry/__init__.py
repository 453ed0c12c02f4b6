"""Worker discovery (in-memory or Redis), routing policies and failover."""

from __future__ import annotations

from collections.abc import Sequence

from voicectl.registry.base import Registry


async def open_registry(
    redis_url: str | None = None, workers: Sequence[str] = (), *, prefix: str = "voicectl"
) -> Registry:
    """Redis when a URL is given (connects and pings), else the static in-memory list."""
    if redis_url:
        from voicectl.registry.redis_backend import RedisRegistry

        return await RedisRegistry.connect(redis_url, prefix=prefix)
    from voicectl.registry.memory import StaticRegistry

    return StaticRegistry(workers)
