"""The orchestrator over a real WebSocket, in front of a real worker (mock voice)."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import OrchestratorFactory, WorkerFactory
from voicectl.audio.frames import frame_bytes
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.config import LLMSettings
from voicectl.orchestrator.server import Orchestrator
from voicectl.talk.client import TalkClient
from voicectl.worker.server import Worker


async def drain(ws: ClientConnection) -> None:
    while True:
        await ws.recv()


@pytest.fixture
async def stack(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> tuple[Worker, Orchestrator]:
    worker = await make_worker()
    return worker, await make_orchestrator(worker.address)


async def test_text_turn_echoes_back_as_audio(stack: tuple[Worker, Orchestrator]) -> None:
    _, orchestrator = stack
    async with TalkClient(orchestrator.address, output_sample_rate=16000) as talk:
        await talk.send_text("hello there")
        done = await talk.wait_for(ev.ReplyDone, timeout=30)
        reply = "".join(r.event.text for r in talk.received(ev.ReplyText))
        assert reply.startswith("You said: hello there")
        assert talk.count(ev.ReplyStarted) == 1
        assert done
        assert talk.audio_frames > 20
        assert {len(f) for f in talk.playback.queue} <= {frame_bytes(16000)}


async def test_conversation_history_and_second_turn(stack: tuple[Worker, Orchestrator]) -> None:
    _, orchestrator = stack
    async with TalkClient(orchestrator.address) as talk:
        await talk.send_text("first")
        await talk.wait_for(ev.ReplyDone, timeout=30)
        await talk.send_text("second")
        await talk.wait_for(ev.ReplyDone, timeout=30, after=1)
        session = orchestrator.sessions[talk.session_id]
        roles = [m.role for m in session.conversation.messages()]
        assert roles[-4:] == ["user", "assistant", "user", "assistant"]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{not json", "bad_json"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps({"type": "text", "text": ""}), "bad_field"),
        (json.dumps({"type": "text", "text": "x\u0000"}), "bad_field"),
        ("[" * 20_000 + "]" * 20_000, "bad_json"),
        (json.dumps({"type": "start"}), "already_started"),
        (b"\x00" * 100, "bad_frame"),
    ],
)
async def test_bad_messages_get_an_error_and_the_session_survives(
    stack: tuple[Worker, Orchestrator], message: str | bytes, code: str
) -> None:
    _, orchestrator = stack
    async with TalkClient(orchestrator.address) as talk:
        if isinstance(message, str):
            await talk.send_raw(message)
        else:
            await talk.send_audio(message)
        error = await talk.wait_for(ev.Error, timeout=10)
        assert error.event.code == code
        assert error.event.message
        await talk.send_text("still there")
        await talk.wait_for(ev.ReplyDone, timeout=30)


async def test_binary_before_start_then_start(stack: tuple[Worker, Orchestrator]) -> None:
    _, orchestrator = stack
    async with connect(orchestrator.address) as ws:
        await ws.send(b"\x00" * 640)
        error = json.loads(await ws.recv())
        assert error["code"] == "expected_start"
        await ws.send(json.dumps({"type": "start", "input_sample_rate": 48000}))
        started = json.loads(await ws.recv())
        assert started["type"] == "started"
        assert started["input_frame_bytes"] == 1920


async def test_unsupported_sample_rate_closes_with_a_reason(
    stack: tuple[Worker, Orchestrator],
) -> None:
    _, orchestrator = stack
    async with connect(orchestrator.address) as ws:
        await ws.send(json.dumps({"type": "start", "output_sample_rate": 11111}))
        error = json.loads(await ws.recv())
        assert error["code"] == "bad_sample_rate"
        assert "48000" in error["message"]
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008


async def test_oversized_message_closes_only_that_connection(
    stack: tuple[Worker, Orchestrator],
) -> None:
    _, orchestrator = stack
    async with TalkClient(orchestrator.address) as other:
        async with connect(orchestrator.address, max_size=None) as ws:
            await ws.send(json.dumps({"type": "start"}))
            await ws.recv()
            await ws.send(b"\x00" * (1 << 20))
            with pytest.raises(ConnectionClosed) as closed:
                await drain(ws)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009
        await other.send_text("unaffected")
        await other.wait_for(ev.ReplyDone, timeout=30)


async def test_client_disconnect_mid_reply_frees_the_worker_session(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> None:
    worker = await make_worker(mock_rtf=0.5)
    orchestrator = await make_orchestrator(worker.address, model_id="mock:slow")
    talk = TalkClient(orchestrator.address)
    await talk.connect()
    await talk.send_text("a long answer " * 20)
    await talk.wait_for(ev.ReplyStarted, timeout=30)
    assert len(worker.sessions) == 1
    await talk.close()
    await worker.sessions.empty.wait()
    async with asyncio.timeout(10):
        while orchestrator.sessions:  # noqa: ASYNC110 - polling a plain dict
            await asyncio.sleep(0.05)


async def test_worker_unreachable_is_an_error_event_and_the_session_survives(
    make_orchestrator: OrchestratorFactory, make_worker: WorkerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    orchestrator = await make_orchestrator("127.0.0.1:9")  # nothing listens on the discard port
    async with TalkClient(orchestrator.address) as talk:
        await talk.send_text("anyone?")
        error = (await talk.wait_for(ev.Error, timeout=30)).event
        assert error.code == "reply_failed"
        assert "UNAVAILABLE" in error.message
        assert "127.0.0.1" not in error.message  # the worker's address stays in the log
        error_id = re.search(r"error (e-[0-9a-f]{8})", error.message)
        assert error_id is not None, error.message
        logged = [r.getMessage() for r in caplog.records if error_id.group(1) in r.getMessage()]
        assert logged
        assert "tts worker 127.0.0.1:9" in logged[0]
        await talk.send_text("still here?")
        await talk.wait_for(ev.Error, timeout=30, after=1)
        assert not talk.closed.is_set()


async def test_llm_endpoint_down_is_an_error_event(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> None:
    worker = await make_worker()
    llm = LLMSettings(kind="openai", base_url="http://127.0.0.1:9/v1", timeout_s=5)
    orchestrator = await make_orchestrator(worker.address, llm=llm)
    async with TalkClient(orchestrator.address) as talk:
        await talk.send_text("hello?")
        error = (await talk.wait_for(ev.Error, timeout=30)).event
        assert error.message.startswith("llm: the language model did not answer")
        assert "127.0.0.1" not in error.message  # nor the LLM's URL
        assert not talk.closed.is_set()


async def test_a_deeply_nested_start_is_refused_by_name(stack: tuple[Worker, Orchestrator]) -> None:
    _, orchestrator = stack
    async with connect(orchestrator.address) as ws:
        await ws.send("[" * 20_000 + "]" * 20_000)
        error = json.loads(await ws.recv())
        assert error["code"] == "bad_json"
        assert "nests too deeply" in error["message"]


async def test_a_flooding_client_is_cut_off_and_the_others_are_served(
    stack: tuple[Worker, Orchestrator],
) -> None:
    _, orchestrator = stack
    async with TalkClient(orchestrator.address) as canary:
        async with connect(orchestrator.address) as flood:
            await flood.send(json.dumps({"type": "start"}))
            assert json.loads(await flood.recv())["type"] == "started"
            try:  # 1-byte frames as fast as possible, never reading an error event
                for _ in range(20_000):
                    await flood.send(b"\x00")
            except ConnectionClosed:
                pass
            await asyncio.wait_for(flood.wait_closed(), timeout=20)
            assert flood.close_code == 1008
            assert flood.close_reason.startswith("too many bad messages")
        await canary.send_text("still there")
        await canary.wait_for(ev.ReplyDone, timeout=30)
    for _ in range(200):  # the flood's session ends once its connection has closed
        if not orchestrator.sessions:
            break
        await asyncio.sleep(0.05)
    assert not orchestrator.sessions, "the flooding session was not cleaned up"


async def test_a_flood_before_start_is_bounded_like_one_after_it(
    stack: tuple[Worker, Orchestrator],
) -> None:
    _, orchestrator = stack
    async with connect(orchestrator.address) as ws:
        for _ in range(400):  # all in well under a second
            await ws.send('{"type": "hello"}')
        codes: list[str] = []
        closed: ConnectionClosed | None = None
        while closed is None:
            try:
                codes.append(json.loads(await asyncio.wait_for(ws.recv(), 10))["code"])
            except ConnectionClosed as exc:
                closed = exc
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1008
    assert "too many bad messages" in closed.rcvd.reason
    assert 1 <= len(codes) <= 10  # answered at most 10 a second, not 400 times
    assert set(codes) == {"expected_start"}
