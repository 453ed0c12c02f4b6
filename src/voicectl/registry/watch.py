"""Follow the registry: a fresh worker list on every change, and periodically anyway."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import suppress

from voicectl.registry.base import Registry, RegistryError, WorkerRecord

log = logging.getLogger(__name__)


async def _listen(registry: Registry, changed: asyncio.Event, retry: float) -> None:
    while True:
        try:
            async for _ in registry.changes():
                changed.set()
        except RegistryError as exc:
            log.debug("change notifications unavailable, polling: %s", exc)
        await asyncio.sleep(retry)


async def watch_workers(
    registry: Registry, *, interval: float = 1.0
) -> AsyncIterator[list[WorkerRecord] | RegistryError]:
    """Yield the worker list at once, then after each change notification or ``interval``.

    Expiry is not announced by every backend, hence the periodic re-list. A failed
    listing yields the error (the watch goes on), so a live view can show it.
    """
    changed = asyncio.Event()
    listener = asyncio.create_task(_listen(registry, changed, retry=interval))
    try:
        while True:
            changed.clear()
            try:
                yield await registry.list_workers()
            except RegistryError as exc:
                yield exc
            with suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), interval)
    finally:
        listener.cancel()
        with suppress(asyncio.CancelledError):
            await listener
