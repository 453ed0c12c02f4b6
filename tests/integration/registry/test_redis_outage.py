"""Redis stopped mid-conversation: new replies still route on the last listing."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import OrchestratorFactory, WorkerFactory
from tests.integration.registry.conftest import RedisServer, free_port
from voicectl.orchestrator import events as ev
from voicectl.registry.redis_backend import RedisRegistry
from voicectl.talk.client import TalkClient
from voicectl.worker.registration import RegistrationSettings, WorkerRegistration


async def reply(talk: TalkClient, text: str) -> None:
    done = talk.count(ev.ReplyDone)
    await talk.send_text(text)
    await talk.wait_for(ev.ReplyDone, timeout=30, after=done)


async def registry_age(url: str) -> float:
    async with httpx.AsyncClient() as http:
        scraped = (await http.get(url)).text
    name = "voicectl_orchestrator_registry_age_seconds"
    return float(next(line for line in scraped.splitlines() if line.startswith(name)).split()[-1])


async def test_replies_go_on_while_redis_is_down_and_after_it_returns(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> None:
    redis = RedisServer(free_port())  # its own server: this test stops it
    redis.start()
    worker = await make_worker()
    target = await RedisRegistry.connect(redis.url, prefix="outage")
    settings = RegistrationSettings.for_worker(worker)
    registration = WorkerRegistration(worker, target, settings)
    await registration.start()
    try:
        orchestrator = await make_orchestrator(
            "", redis=redis.url, registry_prefix="outage", metrics_port=0
        )
        assert orchestrator.metrics_server is not None
        async with TalkClient(orchestrator.address, output_sample_rate=16000) as talk:
            await reply(talk, "before")
            redis.stop()
            await asyncio.sleep(0.5)
            for text in ("during one", "during two"):
                await reply(talk, text)
            assert talk.count(ev.Error) == 0
            assert await registry_age(orchestrator.metrics_server.url) > 0.4
            redis.start()  # an empty Redis: the worker's next heartbeat fills it again
            async with asyncio.timeout(20):  # the next retry after the backoff
                while await registry_age(orchestrator.metrics_server.url) > 0:
                    await reply(talk, "anyone?")  # a reply is what asks the registry
                    await asyncio.sleep(0.5)
            await reply(talk, "after")
            assert talk.count(ev.Error) == 0
    finally:
        await registration.stop()
        await target.close()
        redis.stop()
