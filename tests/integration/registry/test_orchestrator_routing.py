"""The orchestrator routes replies over Redis-registered workers and fails over mid-reply."""

from __future__ import annotations

import asyncio

from tests.conftest import OrchestratorFactory
from tests.integration.registry.conftest import RedisServer, RegisteredFactory
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.tts import RoutedTTS
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.talk.client import TalkClient

TEXT = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"


async def test_reply_fails_over_to_another_worker_without_a_broken_session(
    redis_server: RedisServer,
    prefix: str,
    make_registered: RegisteredFactory,
    make_orchestrator: OrchestratorFactory,
) -> None:
    (first, _), (second, _) = [await make_registered(mock_rtf=0.1) for _ in range(2)]
    orchestrator = await make_orchestrator(
        "", redis=redis_server.url, registry_prefix=prefix, routing="least-busy",
        model_id="mock:slow",
    )  # fmt: skip
    assert orchestrator.tts is not None
    assert orchestrator.tts.target.startswith("registry redis://")
    async with TalkClient(orchestrator.address, output_sample_rate=16000) as talk:
        await talk.send_text(TEXT)
        await talk.wait_for(ev.ReplyStarted, timeout=30)
        holder = first if len(first.sessions) else second
        other = second if holder is first else first
        assert len(holder.sessions) == 1
        await holder.stop(grace=0)  # the worker goes away mid-reply
        failover = await talk.wait_for(ev.ReplyFailover, timeout=30)
        await talk.wait_for(ev.ReplyDone, timeout=60)
        reply_text = "".join(r.event.text for r in talk.received(ev.ReplyText))
        heard = b"".join(talk.playback.replies[0])
    assert failover.event.to_worker != failover.event.from_worker
    assert talk.count(ev.Error) == 0
    async with TTSClient(other.address) as tts:
        reference, _, _ = await collect_pcm(
            tts.synthesize(reply_text, SynthesisRequest(model_id="mock:slow", sample_rate=16000))
        )
    # Deterministic voice: the reply continued at the next unsent sample.
    assert heard == reference


async def test_a_finished_conversation_leaves_nothing_in_the_router(
    redis_server: RedisServer,
    prefix: str,
    make_registered: RegisteredFactory,
    make_orchestrator: OrchestratorFactory,
) -> None:
    await make_registered()
    orchestrator = await make_orchestrator(
        "", redis=redis_server.url, registry_prefix=prefix, routing="least-busy"
    )
    assert isinstance(orchestrator.tts, RoutedTTS)
    router = orchestrator.tts.synthesizer.router
    for turn in range(3):
        async with TalkClient(orchestrator.address, output_sample_rate=16000) as talk:
            await talk.send_text(f"hello number {turn}")
            await talk.wait_for(ev.ReplyDone, timeout=30)
            assert len(router.sticky) == 1  # held while the conversation lasts
        for _ in range(100):
            if not orchestrator.sessions:
                break
            await asyncio.sleep(0.02)
        assert router.sticky == {}  # a long-running orchestrator would grow per conversation
