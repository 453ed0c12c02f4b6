"""Spoken turns and barge-in through a real orchestrator, worker (Piper) and ASR (tiny.en).

User speech is rendered with espeak-ng; audio is streamed over a real WebSocket.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from voicectl.orchestrator import events as ev
from voicectl.orchestrator.asr import AsrEngine
from voicectl.orchestrator.config import OrchestratorConfig
from voicectl.orchestrator.server import Orchestrator
from voicectl.orchestrator.session import Session
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.talk.client import TalkClient
from voicectl.talk.user_audio import noise, speak, stream_audio
from voicectl.worker.config import WorkerConfig
from voicectl.worker.server import Worker

pytestmark = pytest.mark.slow
RATE = 16000
SILENCE = np.zeros(RATE, dtype=np.int16)


@pytest.fixture(scope="module")
async def stack(asr_engine: AsrEngine) -> AsyncIterator[tuple[Worker, Orchestrator]]:
    worker = Worker(WorkerConfig(port=0, ttl_seconds=None, preload=("mock:sine",)))
    await worker.start()
    orchestrator = Orchestrator(
        OrchestratorConfig(ws_port=0, worker=worker.address), asr=asr_engine, keep_finished=100
    )
    await orchestrator.start()
    yield worker, orchestrator
    await orchestrator.stop()
    await worker.stop(grace=0)


async def finished(orchestrator: Orchestrator, session_id: str) -> Session:
    async with asyncio.timeout(10):
        while True:
            for session in orchestrator.finished_sessions:
                if session.settings.session_id == session_id:
                    return session
            await asyncio.sleep(0.05)


async def ticking(talk: TalkClient) -> None:
    """Drive the virtual speaker in real time."""
    while True:
        talk.playback.tick()
        await asyncio.sleep(0.005)


async def test_spoken_turn_is_transcribed_answered_and_intelligible(
    stack: tuple[Worker, Orchestrator], asr_engine: AsrEngine
) -> None:
    _, orchestrator = stack
    async with TalkClient(
        orchestrator.address, input_sample_rate=RATE, output_sample_rate=RATE
    ) as talk:
        user = np.concatenate([speak("Please tell me about the weather today."), SILENCE, SILENCE])
        await stream_audio(user, RATE, talk.send_audio, speed=4.0)
        final = await talk.wait_for(ev.TranscriptFinal, timeout=60)
        assert "weather" in final.event.text.lower()
        assert talk.count(ev.TranscriptPartial) >= 1, "partials arrive while the user speaks"
        await talk.wait_for(ev.ReplyDone, timeout=60)
        reply_text = "".join(r.event.text for r in talk.received(ev.ReplyText))
        assert "weather" in reply_text.lower()
        heard = b"".join(talk.playback.replies[-1])
    transcript = await asr_engine.transcribe(np.frombuffer(heard, dtype="<i2"))
    assert "weather" in transcript.text.lower()


async def test_confirmed_barge_in_halts_playback_and_takes_the_turn(
    stack: tuple[Worker, Orchestrator],
) -> None:
    _, orchestrator = stack
    async with TalkClient(
        orchestrator.address, input_sample_rate=RATE, output_sample_rate=RATE
    ) as talk:
        ticker = asyncio.create_task(ticking(talk))
        await talk.send_text(
            "Tell me a long story about a lighthouse keeper who lived alone on a rocky island "
            "and kept the lamp burning through every storm for forty years."
        )
        await talk.wait_for(ev.ReplyStarted, timeout=60)
        await asyncio.sleep(0.6)
        user = np.concatenate([speak("Stop, wait a moment please."), SILENCE, SILENCE])
        await stream_audio(user, RATE, talk.send_audio)
        clear = await talk.wait_for(ev.Clear, timeout=30)
        paused = await talk.wait_for(ev.ReplyPaused, timeout=30)
        stopped = await talk.wait_for(ev.ReplyStopped, timeout=30)
        final = await talk.wait_for(ev.TranscriptFinal, timeout=60, after=1)
        second = await talk.wait_for(ev.ReplyStarted, timeout=60, after=1)
        ticker.cancel()
    assert "wait" in final.event.text.lower()
    # Not one frame of the interrupted reply arrived after the clear.
    assert second.audio_before == clear.audio_before
    assert clear.at <= paused.at <= stopped.at
    session = await finished(orchestrator, talk.session_id)
    assert len(session.metrics.barge_ins) >= 1


async def test_noise_burst_pauses_then_resumes_without_losing_or_repeating_audio(
    stack: tuple[Worker, Orchestrator],
) -> None:
    worker, orchestrator = stack
    text = "Counting slowly now: one, two, three, four, five, six, seven, eight, nine, ten."
    async with TalkClient(
        orchestrator.address, input_sample_rate=RATE, output_sample_rate=RATE, model_id="mock:sine"
    ) as talk:
        ticker = asyncio.create_task(ticking(talk))
        await talk.send_text(text)
        await talk.wait_for(ev.ReplyStarted, timeout=60)
        await asyncio.sleep(0.8)
        burst = np.concatenate([noise(100, level=0.3, sample_rate=RATE), SILENCE])
        await stream_audio(burst, RATE, talk.send_audio)
        clear = await talk.wait_for(ev.Clear, timeout=30)
        await talk.wait_for(ev.ReplyResumed, timeout=30)
        await talk.wait_for(ev.ReplyDone, timeout=60)
        ticker.cancel()
        reply_text = "".join(r.event.text for r in talk.received(ev.ReplyText))
        heard = b"".join(talk.playback.replies[0])
    assert talk.count(ev.ReplyStopped) == 0
    assert clear.event.played_frames is not None
    async with TTSClient(worker.address) as tts:
        reference, _, _ = await collect_pcm(
            tts.synthesize(reply_text, SynthesisRequest(model_id="mock:sine", sample_rate=RATE))
        )
    # The client flushed what it had not played; the pacer re-sent exactly that.
    assert heard == reference


async def test_faint_speech_while_the_agent_speaks_is_residual_echo_not_a_barge_in(
    stack: tuple[Worker, Orchestrator],
) -> None:
    """What an echo canceller leaves of the agent's voice (-52 dBFS in its loudest 20 ms
    frame here) must not pause the reply; the speaking phase's level gate (-45 dBFS) sits
    between it and a user."""
    _, orchestrator = stack
    voice = speak("Stop, wait a moment please.").astype(np.float64)
    frames = voice[: voice.size // 320 * 320].reshape(-1, 320)
    loudest = float(np.sqrt(np.mean(frames**2, axis=1)).max())
    faint = voice * (10 ** (-52 / 20) * 32768 / loudest)
    async with TalkClient(
        orchestrator.address, input_sample_rate=RATE, output_sample_rate=RATE, model_id="mock:sine"
    ) as talk:
        ticker = asyncio.create_task(ticking(talk))
        await talk.send_text("Counting slowly now: one, two, three, four, five, six, seven.")
        await talk.wait_for(ev.ReplyStarted, timeout=60)
        await stream_audio(np.rint(faint).astype(np.int16), RATE, talk.send_audio)
        assert talk.count(ev.ReplyDone) == 0, "the faint speech overlapped the reply"
        await talk.wait_for(ev.ReplyDone, timeout=60)
        ticker.cancel()
    assert talk.count(ev.ReplyPaused) == 0
    assert talk.count(ev.TranscriptFinal) == 1  # only the typed prompt
