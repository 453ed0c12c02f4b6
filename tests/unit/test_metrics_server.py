"""The /metrics server shuts down off the event loop: its thread's shutdown waits up to
half a second, which would freeze every session still draining on that loop."""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from voicectl.observability.metrics import MetricsServer


async def test_aclose_stops_the_server_from_another_thread_while_the_loop_runs() -> None:
    server = MetricsServer(CollectorRegistry(), port=0)
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(server.url, timeout=5).read())
    assert isinstance(body, bytes)
    closed_on: list[int] = []
    blocking_close = server.close

    def close() -> None:
        closed_on.append(threading.get_ident())
        blocking_close()

    server.close = close  # type: ignore[method-assign]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await server.aclose()
    task.cancel()
    assert closed_on
    assert closed_on[0] != threading.get_ident()
    assert ticks > 1  # the loop kept running while the server shut down
    with pytest.raises(urllib.error.URLError):  # nothing answers any more
        await asyncio.to_thread(urllib.request.urlopen, server.url, timeout=1)
