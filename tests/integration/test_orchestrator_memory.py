"""A served orchestrator lets each ended conversation go: nothing of it is kept, so its
memory does not grow with the conversations it has served (docs/benchmarks.md, soak)."""

from __future__ import annotations

import asyncio
import gc
import weakref

from tests.conftest import WorkerFactory
from voicectl.app import build_orchestrator
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.asr import AsrEngine
from voicectl.orchestrator.config import OrchestratorConfig
from voicectl.orchestrator.session import Session
from voicectl.talk.client import TalkClient


async def test_an_ended_session_is_let_go(
    make_worker: WorkerFactory, asr_engine: AsrEngine
) -> None:
    worker = await make_worker()
    config = OrchestratorConfig(ws_port=0, worker=worker.address)
    orchestrator = build_orchestrator(config, asr=asr_engine)  # as `voicectl orchestrator`
    await orchestrator.start()
    ended: list[weakref.ref[Session]] = []
    try:
        for _ in range(3):
            async with TalkClient(orchestrator.address, output_sample_rate=16000) as talk:
                await talk.send_text("hello there")
                await talk.wait_for(ev.ReplyDone, timeout=30)
                ended.append(weakref.ref(orchestrator.sessions[talk.session_id]))
        for _ in range(200):  # a session's teardown ends a moment after the client left
            if not orchestrator.sessions:
                break
            await asyncio.sleep(0.05)
        assert not orchestrator.sessions
        assert orchestrator.finished_sessions == []
        gc.collect()
        assert [ref() for ref in ended] == [None, None, None]  # nothing holds them
    finally:
        await orchestrator.stop()
