"""Per-client quotas over real WebSocket handshakes: one token (or one address) can hold
only so many conversations, and another client is not affected."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import OrchestratorFactory, WorkerFactory
from voicectl.orchestrator.quotas import ClientLimits, client_key
from voicectl.talk.client import HandshakeRefused, TalkClient

ALICE = "alice-token-0123456789"
BOB = "bob-token-0123456789ab"


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
            await bob.wait_for("reply.done", timeout=30)
    alice_key = client_key(ALICE, "127.0.0.1")
    for _ in range(100):  # the closed sessions give their places back
        if orchestrator.quotas.sessions(alice_key) == 0:
            break
        await asyncio.sleep(0.05)
    assert orchestrator.quotas.sessions(alice_key) == 0
    async with TalkClient(address, token=ALICE, output_sample_rate=16000) as alice:
        await alice.send_text("hello again")
        await alice.wait_for("reply.done", timeout=30)


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
        limited = await alice.wait_for("error", timeout=30)
        assert limited["code"] == "rate_limited"
        assert "auth.messages_per_second" in str(limited["message"])
        async with TalkClient(address, token=BOB, output_sample_rate=16000) as bob:
            await bob.send_text("hello there")
            await bob.wait_for("reply.done", timeout=30)
            assert bob.count("error") == 0  # Bob has his own quota
        await asyncio.sleep(2.5)  # the bucket refills at one message a second
        before = alice.count("reply.done")
        await alice.send_text("one more, in time")
        await alice.wait_for("reply.done", timeout=30, after=before)
    errors = [e for e in alice.events if e.get("type") == "error"]
    assert all(e["code"] == "rate_limited" for e in errors)
    assert 1 <= len(errors) <= 5  # 8 sent, 3 fit the burst
