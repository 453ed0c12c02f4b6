"""The composition root: the one place that builds services and wires them together.

The orchestrator package never imports the worker package, nor opens Redis (layer
rules that tests/unit/test_layers.py enforces). Here its TTS backend is chosen and
opened: workers routed through the Redis registry, the worker the config names, or
(neither given) an embedded worker started here that lives as long as the
orchestrator. Commands (cli/) and benches build orchestrators through
``build_orchestrator``.
"""

from __future__ import annotations

import asyncio
import signal

from voicectl.observability.metrics import OrchestratorMetrics
from voicectl.orchestrator.asr import AsrEngine
from voicectl.orchestrator.config import OrchestratorConfig
from voicectl.orchestrator.server import Orchestrator
from voicectl.orchestrator.tts import DirectTTS, RoutedTTS, TTSBackend
from voicectl.registry import open_registry
from voicectl.registry.failover import RoutedSynthesizer
from voicectl.registry.last_known import LastKnownRegistry
from voicectl.registry.routing import Router, RoutingConfig, parse_policy
from voicectl.rpc.frame_watch import FrameTimeouts
from voicectl.worker.config import load_worker_config
from voicectl.worker.server import Worker


async def start_embedded_worker() -> Worker:
    """A worker on a free loopback port with the default (Piper) voice, never evicted:
    the embedded stack's, which lives exactly as long as its orchestrator."""
    worker = Worker(load_worker_config(cli={"port": 0, "ttl": "never"}))
    await worker.start()
    return worker


class EmbeddedTTS(DirectTTS):
    """Replies on a worker this process started; closing the backend stops it."""

    def __init__(self, worker: Worker, *, timeouts: FrameTimeouts) -> None:
        super().__init__(worker.address, timeouts=timeouts)
        self.worker = worker

    async def close(self) -> None:
        await super().close()
        await self.worker.stop(grace=0)


async def open_tts(config: OrchestratorConfig, metrics: OrchestratorMetrics) -> TTSBackend:
    """Redis-routed workers, one given worker, or an embedded one (the default)."""
    if config.redis:
        redis = await open_registry(
            config.redis, prefix=config.registry_prefix, secret=config.registry_secret
        )
        registry = LastKnownRegistry(redis)  # new replies still route while Redis is away
        metrics.registry_age.set_function(registry.age)
        router = Router(RoutingConfig(policy=parse_policy(config.routing)))
        return RoutedTTS(
            RoutedSynthesizer(registry, router=router, timeouts=config.tts_timeouts),
            description=f"registry {redis.url} ({config.routing})",
        )
    if config.worker:
        return DirectTTS(config.worker, timeouts=config.tts_timeouts)
    return EmbeddedTTS(await start_embedded_worker(), timeouts=config.tts_timeouts)


def build_orchestrator(
    config: OrchestratorConfig, *, asr: AsrEngine | None = None, keep_finished: int = 0
) -> Orchestrator:
    """An orchestrator whose backend follows its config (an embedded worker if it names
    no worker and no Redis); ``keep_finished`` ended sessions stay readable in-process."""
    return Orchestrator(config, asr=asr, open_tts=open_tts, keep_finished=keep_finished)


async def serve_orchestrator(config: OrchestratorConfig) -> None:
    """``voicectl orchestrator``: serve until SIGINT or SIGTERM, then stop cleanly."""
    orchestrator = build_orchestrator(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before start: a signal mid-start stops it
        loop.add_signal_handler(sig, stop.set)
    await orchestrator.start()
    await stop.wait()
    await orchestrator.stop()
