"""One bad fixed worker (``--worker HOST:PORT``) cannot hang a conversation.

The bad workers are real servers (tests/integration/faulty_workers.py): a gRPC server
that takes the stream and never answers, a TCP port that never speaks HTTP/2, a proxy
in front of a real worker that answers late and slowly, or never answers Control. A
real orchestrator runs in front of them with its timeouts configured short, talked to
over its WebSocket by a real client. Workers in a registry, which fail over instead:
tests/integration/registry/test_routed_worker_faults.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.conftest import OrchestratorFactory, WorkerFactory
from tests.integration.faulty_workers import (
    HUNG,
    MODEL,
    RATE,
    REQUEST,
    TIMEOUTS,
    MuteListener,
    ProxyTTS,
    SilentTTS,
    reference,
    reply_text,
    serving,
    words,
)
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.tts import DirectTTS
from voicectl.rpc.frame_watch import FrameTimeouts
from voicectl.talk.client import TalkClient


async def two_failed_turns(address: str, make_orchestrator: OrchestratorFactory) -> None:
    """Each turn against the bad worker ends in a reply_failed error; the session lives on."""
    orchestrator = await make_orchestrator(address, tts_timeouts=TIMEOUTS, model_id=MODEL)
    async with TalkClient(orchestrator.address, output_sample_rate=RATE) as talk:
        for turn in range(2):
            await talk.send_text(f"turn {turn}")
            error = await talk.wait_for(ev.Error, timeout=HUNG, after=turn)
            assert error.event.code == "reply_failed"
            assert "tts: the voice worker failed (DEADLINE_EXCEEDED)" in error.event.message
        assert talk.count(ev.ReplyDone) == 0
        assert talk.audio_frames == 0


async def test_a_worker_that_never_answers_fails_the_reply_not_the_session(
    make_orchestrator: OrchestratorFactory,
) -> None:
    silent = SilentTTS()
    async with serving(silent) as address:
        await two_failed_turns(address, make_orchestrator)
    assert silent.streams == 2  # each turn reached the worker, which took it and hung


async def test_a_port_that_never_speaks_http2_fails_the_reply_in_time(
    make_orchestrator: OrchestratorFactory,
) -> None:
    """gRPC alone waits 20 s for the handshake, then says UNAVAILABLE."""
    mute = MuteListener()
    async with mute.serving() as address:
        await two_failed_turns(address, make_orchestrator)
    assert mute.connections >= 1
    assert mute.received > 0  # the channel did connect and send its preface


async def test_a_late_and_slower_than_real_time_worker_is_heard_in_full(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> None:
    """First frame after 0.8 s (longer than stall_timeout), then a 20 ms frame every 30 ms:
    slow, but never silent for longer than its timeout allows."""
    worker = await make_worker()
    timeouts = FrameTimeouts(first_frame=2.0, stall=0.5)
    async with serving(ProxyTTS(worker.address, first_delay=0.8, frame_delay=0.03)) as slow:
        orchestrator = await make_orchestrator(slow, tts_timeouts=timeouts, model_id=MODEL)
        async with TalkClient(orchestrator.address, output_sample_rate=RATE) as talk:
            await talk.send_text("hello there")
            await talk.wait_for(ev.ReplyDone, timeout=HUNG)
            heard = b"".join(talk.playback.replies[0])
    assert talk.count(ev.Error) == 0
    assert heard == await reference(worker.address, reply_text(talk))


async def test_pause_and_resume_to_a_worker_whose_control_hangs_return(
    make_worker: WorkerFactory,
) -> None:
    """Control is retried while the worker attaches the session; a hung worker must not
    keep a barge-in waiting for ever. The reply's frames keep coming meanwhile."""
    worker = await make_worker()
    text = "one two three four five six seven eight"
    proxy = ProxyTTS(worker.address, frame_delay=0.01, hang_control=True)
    async with serving(proxy) as address:
        tts = DirectTTS(address, timeouts=replace(TIMEOUTS, control=0.3))
        stream = tts.open(
            words(text), replace(REQUEST, session_id="control.1"), session_key="",
            on_failover=lambda event: None,
        )  # fmt: skip
        frames_in = aiter(stream)
        frames = [await anext(frames_in) for _ in range(5)]
        async with asyncio.timeout(HUNG):
            await stream.pause()
            await stream.resume()
        frames += [frame async for frame in frames_in]
        await tts.close()
    assert proxy.controls >= 2  # PAUSE and RESUME reached the worker, which never answered
    assert frames[-1].final
    assert b"".join(f.pcm for f in frames) == await reference(worker.address, text)
