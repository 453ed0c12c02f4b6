"""An orchestrator with tokens and an Origin list, over a real WebSocket handshake."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import OrchestratorFactory, WorkerFactory
from tests.e2e.test_cli import VOICECTL
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.quotas import ClientLimits
from voicectl.session_tokens import SECRET_ENV, mint
from voicectl.talk.client import HandshakeRefused, TalkClient

TOKEN = "conversation-token-0123"


async def test_a_refused_handshake_opens_no_session(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> None:
    worker = await make_worker()
    orchestrator = await make_orchestrator(
        worker.address, auth_tokens=(TOKEN,), allowed_origins=("https://app.example",)
    )
    with pytest.raises(HandshakeRefused) as missing:
        async with TalkClient(orchestrator.address, token=""):
            pass
    assert missing.value.status == 401
    assert "needs a token" in missing.value.reason
    with pytest.raises(InvalidStatus) as foreign:
        async with connect(f"{orchestrator.address}/?token={TOKEN}", origin="https://evil.example"):
            pass
    assert foreign.value.response.status_code == 403
    assert not orchestrator.sessions  # nothing was started for either
    async with TalkClient(orchestrator.address, token=TOKEN, output_sample_rate=16000) as talk:
        await talk.send_text("hello there")
        await talk.wait_for(ev.ReplyDone, timeout=30)
    async with connect(
        f"{orchestrator.address}/?token={TOKEN}",
        origin="https://app.example",
    ) as browser:
        await browser.send('{"type": "start"}')
        assert '"started"' in str(await asyncio.wait_for(browser.recv(), 10))


async def test_talk_sends_voicectl_orchestrator_token(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> None:
    worker = await make_worker()
    orchestrator = await make_orchestrator(worker.address, auth_tokens=(TOKEN,))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECTL_")}

    def talk(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*VOICECTL, "talk", "--url", orchestrator.address, "--text", "hi", "--json"],
            capture_output=True, text=True, timeout=120, env={**env, **extra},
        )  # fmt: skip

    refused = await asyncio.to_thread(talk, {})
    assert refused.returncode == 5, refused.stderr
    assert "HTTP 401" in refused.stderr
    assert "VOICECTL_ORCHESTRATOR_TOKEN" in refused.stderr
    allowed = await asyncio.to_thread(talk, {"VOICECTL_ORCHESTRATOR_TOKEN": TOKEN})
    assert allowed.returncode == 0, allowed.stderr


SECRET = "orchestrator-token-secret-0123456789"


async def test_a_signed_token_opens_the_door_until_it_expires_and_counts_per_user(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> None:
    worker = await make_worker()
    orchestrator = await make_orchestrator(
        worker.address, auth_token_secret=SECRET, client_limits=ClientLimits(sessions=1)
    )
    minted = await asyncio.to_thread(
        subprocess.run,
        [*VOICECTL, "token", "--orchestrator", "--identity", "alice", "--ttl", "600", "--json"],
        capture_output=True, text=True, timeout=60, env={**os.environ, SECRET_ENV: SECRET},
    )  # fmt: skip
    assert minted.returncode == 0, minted.stderr  # as docs/cli.md
    token = json.loads(minted.stdout)["token"]
    async with TalkClient(orchestrator.address, token=token, output_sample_rate=16000) as talk:
        await talk.send_text("hello there")
        await talk.wait_for(ev.ReplyDone, timeout=30)
        # A second token for the same user is the same client: its one session is open.
        again = mint(SECRET, "alice", ttl_s=60)
        with pytest.raises(HandshakeRefused) as busy:
            async with TalkClient(orchestrator.address, token=again):
                pass
        assert busy.value.status == 429
        async with TalkClient(orchestrator.address, token=mint(SECRET, "bob")):
            pass  # another user is not held back by alice
    expired = mint(SECRET, "alice", ttl_s=10, now=time.time() - 60)
    with pytest.raises(HandshakeRefused) as late:
        async with TalkClient(orchestrator.address, token=expired):
            pass
    assert late.value.status == 401
    assert "expired" in late.value.reason
    forged = mint("another-secret-of-32-characters!!", "alice")
    with pytest.raises(HandshakeRefused) as wrong:
        async with TalkClient(orchestrator.address, token=forged):
            pass
    assert "signature" in wrong.value.reason
