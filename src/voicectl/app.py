"""The composition root: the one place that builds services and wires them together.

The orchestrator package never imports the worker package (a layer rule that
tests/unit/test_layers.py enforces). When a command runs the embedded stack (no
``--worker``, no ``--redis``), the worker is started here and handed to the
orchestrator as a ``StartWorker``. Commands (cli/) and benches build orchestrators
through ``build_orchestrator``.
"""

from __future__ import annotations

import asyncio
import signal

from voicectl.orchestrator.asr import AsrEngine
from voicectl.orchestrator.config import OrchestratorConfig
from voicectl.orchestrator.server import LocalWorker, Orchestrator
from voicectl.worker.config import load_worker_config
from voicectl.worker.server import Worker


async def start_embedded_worker() -> LocalWorker:
    """A worker on a free loopback port with the default (Piper) voice, never evicted:
    the embedded stack's, which lives exactly as long as its orchestrator."""
    worker = Worker(load_worker_config(cli={"port": 0, "ttl": "never"}))
    await worker.start()
    return worker


def build_orchestrator(config: OrchestratorConfig, *, asr: AsrEngine | None = None) -> Orchestrator:
    """An orchestrator that starts an embedded worker when its config names none."""
    return Orchestrator(config, asr=asr, start_worker=start_embedded_worker)


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
