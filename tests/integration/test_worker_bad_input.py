"""Every bad Synthesize/Control input gets a status code and an actionable message,
and the worker keeps serving other sessions meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import grpc
import pytest

from tests.conftest import LONG_TEXT, WorkerFactory, mock_catalog
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.worker import adapters
from voicectl.worker.adapters.mock import MockAdapter
from voicectl.worker.catalog import MOCK_SINE
from voicectl.worker.server import Worker
from voicectl.worker.validation import MAX_CHUNK_CHARS, MAX_SESSION_CHARS


def config(**fields: object) -> pb.SynthesizeRequest:
    return pb.SynthesizeRequest(config=pb.SessionConfig(**fields))  # type: ignore[arg-type]


def text(value: str) -> pb.SynthesizeRequest:
    return pb.SynthesizeRequest(text=pb.TextChunk(text=value))


END = pb.SynthesizeRequest(end=pb.EndOfInput())


async def run_raw(client: TTSClient, *requests: pb.SynthesizeRequest) -> grpc.aio.AioRpcError:
    async def gen() -> AsyncIterator[pb.SynthesizeRequest]:
        for request in requests:
            yield request

    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in client.stub.Synthesize(gen()):
            pass
    return err.value


@pytest.mark.parametrize(
    ("requests", "code", "words"),
    [
        ([text("hello"), END], grpc.StatusCode.FAILED_PRECONDITION, "first SynthesizeRequest"),
        ([], grpc.StatusCode.INVALID_ARGUMENT, "empty Synthesize stream"),
        ([config(model_id="nope:none"), text("hi"), END], grpc.StatusCode.NOT_FOUND, "mock:sine"),
        ([config(sample_rate=12345), text("hi"), END], grpc.StatusCode.INVALID_ARGUMENT, "48000"),
        ([config(voice="nobody"), text("hi"), END], grpc.StatusCode.INVALID_ARGUMENT, "low"),
        ([config(session_id="bad id!"), text("hi"), END], grpc.StatusCode.INVALID_ARGUMENT,
         "session_id"),
        ([config(options=pb.SynthesisOptions(speed=9.0)), text("hi"), END],
         grpc.StatusCode.INVALID_ARGUMENT, "speed"),
        ([config(options=pb.SynthesisOptions(lookahead_ms=5)), text("hi"), END],
         grpc.StatusCode.INVALID_ARGUMENT, "lookahead_ms"),
        ([config(), text(""), END], grpc.StatusCode.INVALID_ARGUMENT, "empty"),
        ([config(), text("   "), END], grpc.StatusCode.INVALID_ARGUMENT, "before any text"),
        ([config(), END], grpc.StatusCode.INVALID_ARGUMENT, "before any text"),
        ([config(), text("x" * (MAX_CHUNK_CHARS + 1)), END], grpc.StatusCode.INVALID_ARGUMENT,
         str(MAX_CHUNK_CHARS)),
        ([config(), *[text("y" * MAX_CHUNK_CHARS)] * (MAX_SESSION_CHARS // MAX_CHUNK_CHARS + 1),
          END], grpc.StatusCode.INVALID_ARGUMENT, str(MAX_SESSION_CHARS)),
        ([config(), text("hi"), END, text("more")], grpc.StatusCode.FAILED_PRECONDITION,
         "after end-of-input"),
        ([config(), text("hi"), config(), END], grpc.StatusCode.FAILED_PRECONDITION,
         "config sent twice"),
        ([config(), pb.SynthesizeRequest(), END], grpc.StatusCode.INVALID_ARGUMENT, "no payload"),
        ([config(), text("x\x00"), END], grpc.StatusCode.INVALID_ARGUMENT, "U+0000 at offset 1"),
        ([config(), text("ok \x1b[31m"), END], grpc.StatusCode.INVALID_ARGUMENT, "U+001B"),
    ],
    ids=[
        "no-config-first", "empty-stream", "unknown-model", "bad-rate", "unknown-voice",
        "bad-session-id", "speed-range", "lookahead-range", "empty-chunk", "blank-text",
        "end-without-text", "chunk-too-long", "session-too-long", "after-end", "config-twice",
        "no-payload", "nul-char", "escape-char",
    ],
)  # fmt: skip
async def test_bad_synthesize_input(
    client: TTSClient, requests: list[pb.SynthesizeRequest], code: grpc.StatusCode, words: str
) -> None:
    error = await run_raw(client, *requests)
    assert error.code() == code, error.details()
    assert words in (error.details() or "")


async def test_invalid_utf8_is_named(client: TTSClient) -> None:
    call = client.channel.stream_stream(
        "/voicectl.v1.TTS/Synthesize",
        request_serializer=lambda raw: raw,
        response_deserializer=pb.AudioFrame.FromString,
    )

    async def gen() -> AsyncIterator[bytes]:
        yield config().SerializeToString()
        # TextChunk{text: b"\xff\xfe"} inside SynthesizeRequest field 2: not valid UTF-8.
        yield b"\x12\x04\x0a\x02\xff\xfe"
        yield END.SerializeToString()

    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in call(gen()):
            pass
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "UTF-8" in (err.value.details() or "")


async def test_duplicate_session_id_is_refused(client: TTSClient) -> None:
    first = client.synthesize(LONG_TEXT, SynthesisRequest(session_id="dup", model_id="mock:slow"))
    async for _ in first:
        break
    error = await run_raw(client, config(session_id="dup"), text("hi"), END)
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "dup" in (error.details() or "")
    first.cancel()


@pytest.mark.parametrize(
    ("session_id", "command", "code"),
    [
        ("missing", pb.PAUSE, grpc.StatusCode.NOT_FOUND),
        ("missing", pb.STOP, grpc.StatusCode.NOT_FOUND),
    ],
)
async def test_control_unknown_session(
    client: TTSClient, session_id: str, command: pb.ControlCommand.ValueType, code: grpc.StatusCode
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.control(session_id, command)
    assert err.value.code() == code
    assert session_id in (err.value.details() or "")


async def test_control_unspecified_command(client: TTSClient) -> None:
    call = client.synthesize(LONG_TEXT, SynthesisRequest(session_id="cmd", model_id="mock:slow"))
    async for _ in call:
        break
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.control("cmd", pb.CONTROL_COMMAND_UNSPECIFIED)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "PAUSE" in (err.value.details() or "")
    call.cancel()


async def test_oversized_message_is_rejected_by_grpc(client: TTSClient) -> None:
    error = await run_raw(client, config(), text("z" * (2 << 20)), END)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_bad_input_does_not_disturb_a_running_session(
    worker: Worker, client: TTSClient
) -> None:
    reference, _, _ = await collect_pcm(client.synthesize(LONG_TEXT))
    good = asyncio.create_task(
        collect_pcm(client.synthesize(LONG_TEXT, SynthesisRequest(model_id="mock:slow")))
    )
    for bad in ([text("x"), END], [config(sample_rate=1), text("x"), END], [config(), END]):
        await run_raw(client, *bad)
    pcm, _, frames = await good
    assert pcm == reference
    assert frames[-1].end_reason == pb.END_REASON_COMPLETED
    assert len(worker.sessions) == 0


class FailingAdapter(MockAdapter):
    """Speaks one word, then the 'model' breaks (like a CUDA error mid-utterance)."""

    name = "failing"

    async def stream(  # type: ignore[override]
        self, text: AsyncIterator[str], **kwargs: Any
    ) -> AsyncIterator[Any]:
        async for chunk in super().stream(text, **kwargs):
            yield chunk
            raise RuntimeError("device lost")


async def test_adapter_failure_mid_stream_is_internal_with_cause(
    make_worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        adapters.ADAPTERS,
        "failing",
        adapters.AdapterEntry(
            "tests.integration.test_worker_bad_input", "FailingAdapter", None, ()
        ),
    )
    spec = replace(MOCK_SINE, model_id="failing:one", adapter="failing")
    worker = await make_worker(mock_catalog(spec), warmup=False)
    async with TTSClient(worker.address) as client:
        await client.wait_ready()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await collect_pcm(
                client.synthesize(LONG_TEXT, SynthesisRequest(model_id="failing:one"))
            )
        assert err.value.code() == grpc.StatusCode.INTERNAL
        assert "device lost" in (err.value.details() or "")
        assert "failing:one" in (err.value.details() or "")
        pcm, _, _ = await collect_pcm(client.synthesize("still serving"))
        assert pcm
    assert len(worker.sessions) == 0


async def test_a_text_over_one_chunk_is_sent_in_pieces(client: TTSClient) -> None:
    # Over MAX_CHUNK_CHARS in one string (an LLM delta, a long typed turn): the client
    # splits it, so the worker never sees an oversized TextChunk.
    long_text = "word " * (MAX_CHUNK_CHARS // 5 + 100)
    pcm, rate, frames = await collect_pcm(
        client.synthesize(long_text, SynthesisRequest(model_id="mock:fast"))
    )
    assert len(long_text) > MAX_CHUNK_CHARS
    assert frames
    assert len(pcm) > 0
    assert rate > 0


async def test_a_huge_id_is_quoted_cut_in_the_error(client: TTSClient) -> None:
    """A 10 KB id from a client gives a short message, not a 10 KB one."""
    huge = "x" * 10_000
    with pytest.raises(grpc.aio.AioRpcError) as control:
        await client.stop(huge)
    assert control.value.code() == grpc.StatusCode.NOT_FOUND
    assert "(10000 characters)" in str(control.value.details())
    assert len(str(control.value.details())) < 300
    with pytest.raises(grpc.aio.AioRpcError) as load:
        await client.load_model("mock:" + huge)
    assert load.value.code() == grpc.StatusCode.NOT_FOUND
    assert "(10005 characters)" in str(load.value.details())
    assert len(str(load.value.details())) < 600
    with pytest.raises(grpc.aio.AioRpcError) as voice:
        await collect_pcm(client.synthesize("Hi.", SynthesisRequest(voice=huge)))
    assert voice.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(str(voice.value.details())) < 400


@pytest.mark.parametrize("method", ["Control", "LoadModel", "UnloadModel"])
async def test_invalid_utf8_on_a_unary_rpc_is_invalid_argument(
    client: TTSClient, method: str
) -> None:
    """Was UNKNOWN, with a traceback in the worker's log (the deserializer raised)."""
    call = client.channel.unary_unary(
        f"/voicectl.v1.TTS/{method}", request_serializer=bytes, response_deserializer=bytes
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(b"\x0a\x02\xff\xfe")  # field 1 (a string): two bytes that are not UTF-8
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"malformed {method}Request: a string field is not valid UTF-8" in str(
        err.value.details()
    )
