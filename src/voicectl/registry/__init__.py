"""Worker discovery (in-memory or Redis), routing policies and failover."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicectl.registry.redis_backend import RedisRegistry


async def open_registry(
    url: str, *, prefix: str = "voicectl", secret: str | None = None, timeout: float = 3.0
) -> RedisRegistry:
    """The shared registry, opened the one way every process opens it (the worker, the
    orchestrator's composition root, ``voicectl registry``): connect and PING, signing
    what it writes and refusing unsigned records when ``secret`` is set."""
    from voicectl.registry.redis_backend import RedisRegistry  # redis loads only when used

    return await RedisRegistry.connect(url, prefix=prefix, secret=secret or None, timeout=timeout)
