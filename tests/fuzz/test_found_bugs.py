"""Regressions for what the fuzz suite found, each as one focused check on real servers."""

from __future__ import annotations

import logging
import re

import grpc
import pytest

from tests.conftest import OrchestratorFactory, WorkerFactory
from tests.fuzz.peer import Peer
from tests.fuzz.ws_cases import Msg
from tests.integration.test_worker_bad_input import END, config, run_raw, text
from voicectl.orchestrator.server import Orchestrator
from voicectl.rpc.client import TTSClient
from voicectl.worker.server import Worker

HUGE_INT = "9" * 5000  # past Python's 4300-digit limit on int("...")


@pytest.fixture
async def stack(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> tuple[Worker, Orchestrator]:
    worker = await make_worker()
    return worker, await make_orchestrator(worker.address)


async def test_a_session_id_ending_in_a_newline_is_refused(client: TTSClient) -> None:
    """SESSION_ID_PATTERN used match() with "$", which also matches before a final newline."""
    error = await run_raw(client, config(session_id="dup\n"), text("hi"), END)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config.session_id 'dup\\n' is invalid" in str(error.details())


async def test_a_huge_integer_after_start_is_bad_json_and_the_session_lives(
    stack: tuple[Worker, Orchestrator], caplog: pytest.LogCaptureFixture
) -> None:
    """json.loads raised ValueError (not JSONDecodeError): the session died with a traceback."""
    _, orchestrator = stack
    async with Peer.opened(orchestrator.address) as peer:
        await peer.send_json({"type": "start"})
        await peer.send(Msg('{"type": "text", "text": ' + HUGE_INT + "}"))
        await peer.wait("an error", lambda: bool(peer.of("error")))
        error = peer.of("error")[0]
        assert error["code"] == "bad_json"
        assert error["message"] == "message has a number of over 4300 digits"
        await peer.send_json({"type": "text", "text": "still here"})
        await peer.wait("the reply", lambda: bool(peer.of("reply.started")))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_huge_integer_before_start_is_bad_json_and_start_still_works(
    stack: tuple[Worker, Orchestrator],
) -> None:
    """The handshake swallowed the ValueError and closed with 1000, saying nothing."""
    _, orchestrator = stack
    async with Peer.opened(orchestrator.address) as peer:
        await peer.send(Msg(HUGE_INT))
        await peer.wait("an error", lambda: bool(peer.of("error")))
        assert peer.of("error")[0]["code"] == "bad_json"
        assert "over 4300 digits" in peer.of("error")[0]["message"]
        await peer.send_json({"type": "start"})
        await peer.wait("started", lambda: bool(peer.of("started")))


async def test_an_unknown_type_is_quoted_cut(stack: tuple[Worker, Orchestrator]) -> None:
    """A 60 KB type came back whole in the error event."""
    _, orchestrator = stack
    async with Peer.opened(orchestrator.address) as peer:
        await peer.send_json({"type": "start"})
        await peer.send_json({"type": "x" * 60_000})
        await peer.wait("an error", lambda: bool(peer.of("error")))
        message = peer.of("error")[0]["message"]
        assert message.startswith("unknown message type 'xxxx")
        assert "... (60000 characters); send 'text' or audio" in message
        assert len(message) < 200


async def test_a_non_ascii_bad_rate_still_closes_with_1008(
    stack: tuple[Worker, Orchestrator],
) -> None:
    """The close reason (the message cut to 120 characters) went over the 123 bytes a close
    frame holds; closing raised, and the client saw 1000 instead of 1008."""
    _, orchestrator = stack
    async with Peer.opened(orchestrator.address) as peer:
        await peer.send_json({"type": "start", "output_sample_rate": "\u00fc" * 200})
        assert await peer.closed() == 1008
        assert peer.of("error")[0]["code"] == "bad_sample_rate"
        assert peer.close_reason.startswith("start.output_sample_rate '\\xfc\\xfc")
        assert len(peer.of("error")[0]["message"]) < 250


@pytest.mark.parametrize(("key", "value"), [("voice", "\ud800"), ("model_id", "mock\x00")])
async def test_an_unspeakable_model_or_voice_is_refused_at_start(
    stack: tuple[Worker, Orchestrator], key: str, value: str
) -> None:
    """A lone surrogate could not be encoded for the worker: each reply then failed as "the
    synthesis stream was cancelled", which named nothing the client had sent."""
    _, orchestrator = stack
    async with Peer.opened(orchestrator.address) as peer:
        await peer.send_json({"type": "start", key: value})
        await peer.wait("an error", lambda: bool(peer.of("error")))
        error = peer.of("error")[0]
        assert error["code"] == "bad_field"
        assert error["message"].startswith(f"start.{key} has a ")
        assert f"U+{ord(value[-1]):04X} at offset {len(value) - 1}" in error["message"]
        await peer.send_json({"type": "start"})  # the connection stays open for a good one
        await peer.wait("started", lambda: bool(peer.of("started")))


async def test_a_stopped_reply_sends_no_text_after_reply_stopped(
    stack: tuple[Worker, Orchestrator],
) -> None:
    """Two typed turns back to back: the first reply's first delta arrived after its
    reply.stopped, glued to the next reply's text ("YouYou said: ...")."""
    _, orchestrator = stack
    async with Peer.opened(orchestrator.address) as peer:
        await peer.send_json({"type": "start"})
        await peer.send_json({"type": "text", "text": "first"})
        await peer.send_json({"type": "text", "text": "second"})
        await peer.wait("the reply", lambda: bool(peer.of("reply.started")))
        await peer.wait("its text", lambda: "".join(deltas_after_stop(peer)).endswith("."))
        assert re.fullmatch(r"You said: (first )?second\.", "".join(deltas_after_stop(peer)))


def deltas_after_stop(peer: Peer) -> list[str]:
    types = [e["type"] for e in peer.events]
    stopped = types.index("reply.stopped") if "reply.stopped" in types else len(types)
    return [e["text"] for e in peer.events[stopped:] if e["type"] == "reply.text"]
