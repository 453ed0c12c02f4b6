"""Per-client quotas over real WebSocket handshakes: one token (or one address) can hold
only so many conversations, and another client is not affected."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import OrchestratorFactory, WorkerFactory
from voicectl.asr.wer import word_error_rate
from voicectl.audio.decode import decode_audio_file
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.quotas import ClientLimits, client_key
from voicectl.talk.client import HandshakeRefused, TalkClient
from voicectl.talk.user_audio import stream_audio

ALICE = "alice-token-0123456789"
BOB = "bob-token-0123456789ab"
CLAUSE = Path(__file__).resolve().parents[1] / "data" / "asr" / "jfk-last-clause.flac"


async def test_one_token_holds_only_its_share_of_sessions(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> None:
    worker = await make_worker()
    orchestrator = await make_orchestrator(
        worker.address, auth_tokens=(ALICE, BOB), client_limits=ClientLimits(sessions=2)
    )
    address = orchestrator.address
    async with TalkClient(address, token=ALICE), TalkClient(address, token=ALICE):
        with pytest.raises(HandshakeRefused) as refused:
            async with TalkClient(address, token=ALICE):
                pass
        assert refused.value.status == 429
        assert "auth.sessions_per_client" in refused.value.reason
        async with TalkClient(address, token=BOB, output_sample_rate=16000) as bob:
            await bob.send_text("hello there")  # another client still gets answers
            await bob.wait_for(ev.ReplyDone, timeout=30)
    alice_key = client_key(ALICE, "127.0.0.1")
    for _ in range(100):  # the closed sessions give their places back
        if orchestrator.quotas.sessions(alice_key) == 0:
            break
        await asyncio.sleep(0.05)
    assert orchestrator.quotas.sessions(alice_key) == 0
    async with TalkClient(address, token=ALICE, output_sample_rate=16000) as alice:
        await alice.send_text("hello again")
        await alice.wait_for(ev.ReplyDone, timeout=30)


async def test_without_tokens_a_client_is_its_address(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> None:
    worker = await make_worker()
    orchestrator = await make_orchestrator(worker.address, client_limits=ClientLimits(sessions=1))
    async with TalkClient(orchestrator.address):
        with pytest.raises(HandshakeRefused) as refused:
            async with TalkClient(orchestrator.address):
                pass
        assert refused.value.status == 429
    assert orchestrator.quotas.sessions("addr:127.0.0.1") <= 1


async def test_a_client_over_its_message_rate_is_told_and_others_are_not(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> None:
    worker = await make_worker()
    orchestrator = await make_orchestrator(
        worker.address, auth_tokens=(ALICE, BOB),
        client_limits=ClientLimits(messages_per_second=1, burst=3),
    )  # fmt: skip
    address = orchestrator.address
    async with TalkClient(address, token=ALICE, output_sample_rate=16000) as alice:
        for turn in range(8):  # far past a burst of 3, in no time
            await alice.send_text(f"message {turn}")
        limited = await alice.wait_for(ev.Error, timeout=30)
        assert limited.event.code == "rate_limited"
        assert "auth.messages_per_second" in limited.event.message
        async with TalkClient(address, token=BOB, output_sample_rate=16000) as bob:
            await bob.send_text("hello there")
            await bob.wait_for(ev.ReplyDone, timeout=30)
            assert bob.count(ev.Error) == 0  # Bob has his own quota
        await asyncio.sleep(2.5)  # the bucket refills at one message a second
        before = alice.count(ev.ReplyDone)
        await alice.send_text("one more, in time")
        await alice.wait_for(ev.ReplyDone, timeout=30, after=before)
    errors = [r.event for r in alice.received(ev.Error)]
    assert all(e.code == "rate_limited" for e in errors)
    assert 1 <= len(errors) <= 5  # 8 sent, 3 fit the burst


async def test_audio_faster_than_real_time_is_dropped_and_real_time_audio_goes_on(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> None:
    """A client that sends a recording as fast as it can gets ``audio_too_fast`` past the
    burst; once it sends at the recorded pace again, its speech is heard."""
    worker = await make_worker()
    orchestrator = await make_orchestrator(
        worker.address, client_limits=ClientLimits(audio_realtime_factor=1.0, audio_burst_s=1.0)
    )
    address = orchestrator.address
    rate = 16000
    async with TalkClient(address, input_sample_rate=rate, output_sample_rate=rate) as alice:
        silence = bytes(640)
        for _ in range(150):  # 3 s of audio in no time: 1 s fits the burst
            await alice.send_audio(silence)
        error = await alice.wait_for(ev.Error, timeout=10)
        assert error.event.code == "audio_too_fast"
        assert "auth.audio_realtime_factor" in error.event.message
        await asyncio.sleep(1.5)  # the allowance refills
        errors = alice.count(ev.Error)
        speech = decode_audio_file(CLAUSE, sample_rate=rate)
        tail = np.zeros(rate * 2, dtype=np.int16)
        await stream_audio(np.concatenate([speech, tail]), rate, alice.send_audio)
        final = await alice.wait_for(ev.TranscriptFinal, timeout=30)
        assert alice.count(ev.Error) == errors  # nothing at the recorded pace was dropped
    said = CLAUSE.with_suffix(".txt").read_text().strip()
    assert word_error_rate(said, final.event.text) <= 0.15, final.event.text
