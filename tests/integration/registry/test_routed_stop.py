"""A stopped routed reply ends where it is: it never fails over to another worker.

Its worker answers the STOP, but its frames stop coming (a proxy that hangs after five
frames): the silence is the stopped stream's end, not a dead worker to move off.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.conftest import LONG_TEXT, WorkerFactory
from tests.integration.faulty_workers import HUNG, REQUEST, TIMEOUTS, ProxyTTS, serving
from voicectl.registry.failover import FailoverEvent, ReplyState, RoutedSynthesizer
from voicectl.registry.memory import StaticRegistry, static_record
from voicectl.registry.routing import Router


async def test_a_stopped_reply_whose_worker_falls_silent_does_not_fail_over(
    make_worker: WorkerFactory,
) -> None:
    upstream = await make_worker()
    proxy = ProxyTTS(upstream.address, hang_after=5)
    healthy = await make_worker()
    events: list[FailoverEvent] = []
    async with serving(proxy) as address:
        registry = StaticRegistry([address])
        synth = RoutedSynthesizer(registry, router=Router(), timeouts=TIMEOUTS)
        stream = synth.stream(LONG_TEXT, replace(REQUEST, session_id="stop-silent"),
                              on_failover=events.append)  # fmt: skip
        frames = []
        async with asyncio.timeout(HUNG):
            async for frame in stream:
                frames.append(frame)
                if len(frames) == 5:
                    # Somewhere to fail over to, if it did.
                    await registry.register(static_record(healthy.address), ttl=60)
                    await stream.stop()
        await synth.close()
    assert proxy.controls == 1  # the STOP reached the worker
    assert len(frames) == 5
    assert events == []
    assert stream.state is ReplyState.ENDED
