"""The LiveKit path with a real livekit-server on loopback: the orchestrator registers
as its agent, the server dispatches it into each room a user opens, and the user (the
``talk`` client, a LiveKit participant) talks to it; plus the connection-details
endpoint that LiveKit's agent-starter-react front end calls. The Chromium test of
this path is tests/e2e/test_livekit_page.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

pytest.importorskip("livekit.api", reason="the livekit extra: uv sync --extra livekit")
# The rest needs the livekit extra.
from tests.conftest import OrchestratorFactory
from tests.livekit_server import LiveKitServer
from voicectl.asr.wer import word_error_rate
from voicectl.audio.decode import decode_audio_file
from voicectl.livekit_tokens import LiveKitCredentials
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.config import LiveKitSettings
from voicectl.orchestrator.livekit_agent import DispatchError
from voicectl.orchestrator.server import Orchestrator
from voicectl.talk.livekit_client import LiveKitTalkClient
from voicectl.talk.user_audio import stream_audio
from voicectl.worker.server import Worker

RATE = 16000
CLAUSE = Path(__file__).resolve().parents[1] / "data" / "asr" / "jfk-last-clause.flac"
CLAUSE_SAID = (CLAUSE.with_suffix(".txt")).read_text().strip()


def settings(server: LiveKitServer, **overrides: str) -> LiveKitSettings:
    given = {"url": server.url, "api_key": server.api_key, "api_secret": server.api_secret}
    return LiveKitSettings(**{**given, **overrides})


@pytest.fixture
async def agent(
    make_orchestrator: OrchestratorFactory, mock_worker: Worker, livekit: LiveKitServer
) -> Orchestrator:
    return await make_orchestrator(
        mock_worker.address, model_id="mock:sine", livekit=settings(livekit), web="127.0.0.1:0"
    )


def room_url(server: LiveKitServer, room: str = "") -> str:
    return server.url.replace("ws://", "livekit://") + "/" + room


def user(server: LiveKitServer, room: str = "", **options: Any) -> LiveKitTalkClient:
    credentials = LiveKitCredentials(server.url, server.api_key, server.api_secret)
    return LiveKitTalkClient(room_url(server, room), livekit=credentials, **options)


async def test_the_agent_joins_each_room_a_user_opens_and_answers(
    agent: Orchestrator, livekit: LiveKitServer
) -> None:
    # One dispatch per new room; back in a room before it closes, the agent is still there.
    for room in ("first-room", "second-room", "second-room"):
        async with user(livekit, room, output_sample_rate=24000) as talk:
            assert talk.session_id.startswith("lk-")
            await talk.send_text("hello there")
            await talk.wait_for(ev.ReplyDone, timeout=30)
            texts = [r.event.text for r in talk.received(ev.ReplyText)]
            assert "".join(texts).strip() == "You said: hello there."
            await asyncio.sleep(0.3)
            loud = sum(1 for _, sound in talk.heard if sound)
            assert loud >= 25  # the reply track carried the reply (>= 0.5 s of sound)
    assert agent.livekit is not None
    for _ in range(100):  # each session ends once the server says its user left
        if not agent.livekit.transports:
            break
        await asyncio.sleep(0.05)
    assert not agent.livekit.transports


async def test_a_named_agent_gets_the_rooms_that_ask_for_it(
    agent: Orchestrator, make_orchestrator: OrchestratorFactory, mock_worker: Worker,
    livekit: LiveKitServer,
) -> None:  # fmt: skip
    """Two agents on one server: ``?agent=NAME`` rooms go to the one registered as NAME,
    never to the automatic one (which the bench relies on to count its own sessions)."""
    named = await make_orchestrator(
        mock_worker.address, model_id="mock:sine", livekit=settings(livekit, agent_name="named")
    )
    ids = []
    for room in ("named-1", "named-2", "named-3", "named-4"):
        async with user(livekit, f"{room}?agent=named") as talk:
            await talk.send_text("who answers")
            await talk.wait_for(ev.ReplyDone, timeout=30)
            ids.append(talk.session_id)
    for _ in range(100):
        if not named.sessions:
            break
        await asyncio.sleep(0.05)
    assert {s.settings.session_id for s in named.finished_sessions} == set(ids)
    assert not agent.finished_sessions
    assert not agent.sessions


async def test_a_spoken_question_is_transcribed(
    agent: Orchestrator, livekit: LiveKitServer
) -> None:
    """A recorded human voice through the SFU: Opus, LiveKit's resampler, our VAD/ASR."""
    audio = decode_audio_file(CLAUSE, sample_rate=RATE)
    tail = np.zeros(RATE * 2, dtype=np.int16)
    async with user(livekit, "spoken", input_sample_rate=RATE, output_sample_rate=RATE) as talk:
        await stream_audio(np.concatenate([audio, tail]), RATE, talk.send_audio)
        final = await talk.wait_for(ev.TranscriptFinal, timeout=30)
    assert word_error_rate(CLAUSE_SAID, final.event.text) <= 0.15, final.event.text


async def test_barge_in_stops_the_reply_track(agent: Orchestrator, livekit: LiveKitServer) -> None:
    audio = decode_audio_file(CLAUSE, sample_rate=RATE)
    async with user(livekit, "barge", input_sample_rate=RATE, output_sample_rate=RATE) as talk:
        await talk.send_text(" ".join(["The lamp burned through every storm."] * 12))
        await talk.wait_for(ev.ReplyStarted, timeout=30)
        await asyncio.sleep(1.0)
        await stream_audio(audio, RATE, talk.send_audio)  # talk over the reply
        clear = await talk.wait_for(ev.Clear, timeout=10)
        await talk.wait_for(ev.ReplyStopped, timeout=10)
        await asyncio.sleep(0.5)
    # The interruption is the next turn: its answer may start; until then, silence.
    later = [r.at for r in talk.received(ev.ReplyStarted) if r.at > clear.at]
    until = later[0] if later else float("inf")
    loud_after = [at for at, sound in talk.heard if sound and clear.at + 0.2 < at < until]
    assert not loud_after, "the reply kept playing after clear"
    assert any(sound for at, sound in talk.heard if at < clear.at)


async def test_bad_messages_get_an_error_naming_the_field(
    agent: Orchestrator, livekit: LiveKitServer
) -> None:
    async with user(livekit, "bad-input") as talk:
        await talk.send_raw(json.dumps({"type": "text", "text": 5}))
        error = await talk.wait_for(ev.Error, timeout=10)
        assert "text" in error.event.message
        await talk.send_text("still here")  # the session goes on
        await talk.wait_for(ev.ReplyDone, timeout=30)


async def test_a_wrong_secret_is_refused_at_start(
    make_orchestrator: OrchestratorFactory, mock_worker: Worker, livekit: LiveKitServer
) -> None:
    wrong = settings(livekit, api_secret="not-the-secret-of-this-server-at-all")
    with pytest.raises(DispatchError, match=r"refused the agent \(HTTP 401\).*api_secret"):
        await make_orchestrator(mock_worker.address, livekit=wrong)


async def fetch(url: str, method: str = "POST", **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.request(method, url, **kwargs) as res:
        return res.status, (await res.json() if res.status != 204 else dict(res.headers))


async def test_connection_details_join_a_room_the_agent_serves(
    agent: Orchestrator, livekit: LiveKitServer
) -> None:
    assert agent.web is not None
    url = agent.web.address + "/api/connection-details"
    status, details = await fetch(url, json={"room_config": {"agents": [{"agent_name": ""}]}})
    assert status == 200, details
    assert set(details) == {"serverUrl", "roomName", "participantName", "participantToken"}
    assert details["serverUrl"] == livekit.url
    room = f"{room_url(livekit, details['roomName'])}?token={details['participantToken']}"
    async with LiveKitTalkClient(room) as talk:  # the token alone: no key or secret here
        assert talk.identity != details["participantName"] or talk.identity
        await talk.send_text("hi")
        await talk.wait_for(ev.ReplyDone, timeout=30)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{not json", "not valid JSON"),
        ('["x"]', "JSON object"),
        ('{"room_config": {"agents": "voicectl"}}', "room_config.agents"),
        ('{"room_config": {"agents": [{"agent_name": 7}]}}', "agent_name"),
    ],
)
async def test_bad_connection_requests_name_the_field(
    agent: Orchestrator, body: str, field: str
) -> None:
    assert agent.web is not None
    status, answer = await fetch(agent.web.address + "/api/connection-details", data=body)
    assert status == 400
    assert field in answer["message"]


async def test_another_origin_needs_to_be_allowed(
    make_orchestrator: OrchestratorFactory, mock_worker: Worker, livekit: LiveKitServer
) -> None:
    front_end = "http://localhost:3000"  # agent-starter-react's dev server
    allowed = await make_orchestrator(
        mock_worker.address, livekit=settings(livekit), web="127.0.0.1:0",
        allowed_origins=(front_end,),
    )  # fmt: skip
    assert allowed.web is not None
    url = allowed.web.address + "/api/connection-details"
    status, headers = await fetch(url, "OPTIONS", headers={"Origin": front_end})
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == front_end
    status, answer = await fetch(url, headers={"Origin": "http://evil.example"})
    assert (status, answer["code"]) == (403, "refused")
    assert "auth.allowed_origins" in answer["message"]


async def test_without_livekit_the_endpoint_says_how_to_turn_it_on(
    make_orchestrator: OrchestratorFactory, mock_worker: Worker
) -> None:
    plain = await make_orchestrator(mock_worker.address, web="127.0.0.1:0")
    assert plain.web is not None
    status, answer = await fetch(plain.web.address + "/api/connection-details")
    assert (status, answer["code"]) == (404, "no_livekit")
    assert "--livekit" in answer["message"]


async def test_the_livekit_page_loads_the_sdk_or_says_how_to_install_it(
    agent: Orchestrator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert agent.web is not None
    url = agent.web.address + "/vendor/livekit-client.js"
    monkeypatch.setenv("VOICECTL_LIVEKIT_CLIENT_JS", str(tmp_path / "absent.js"))
    status, answer = await fetch(url, "GET")
    assert (status, answer["code"]) == (404, "no_livekit_client")
    assert "npm ci" in answer["message"]
    bundle = tmp_path / "livekit-client.umd.js"
    bundle.write_text("window.LivekitClient = {};")
    monkeypatch.setenv("VOICECTL_LIVEKIT_CLIENT_JS", str(bundle))
    async with aiohttp.ClientSession() as http, http.get(url) as res:
        assert res.status == 200
        assert res.headers["Content-Type"].startswith("text/javascript")
        assert await res.text() == "window.LivekitClient = {};"


@pytest.mark.parametrize(
    ("metadata", "says"), [('{"model_id": 5}', "model_id"), ("not json", "must be JSON")]
)
async def test_a_bad_voice_in_the_metadata_is_named_and_the_default_speaks(
    agent: Orchestrator, livekit: LiveKitServer, metadata: str, says: str
) -> None:
    credentials = LiveKitCredentials(livekit.url, livekit.api_key, livekit.api_secret)
    room = f"bad-voice-{len(metadata)}"  # a new room: each test has an agent of its own
    token = credentials.user_token(room, "carol", metadata=metadata)
    async with LiveKitTalkClient(f"{room_url(livekit, room)}?token={token}") as talk:
        error = (await talk.wait_for(ev.Error, timeout=10)).event
        assert (error.code, says in error.message) == ("bad_field", True), error
        await talk.send_text("hi")
        await talk.wait_for(ev.ReplyDone, timeout=30)
