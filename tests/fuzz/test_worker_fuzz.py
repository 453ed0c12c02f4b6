"""Fuzzed Synthesize streams against a real worker (mock voices) on loopback gRPC.

For every generated stream (tests/fuzz/synth_cases.py) the worker answers, never hangs,
with the status and message words the case predicts: a client error naming the field
(never INTERNAL or UNKNOWN, never a message that echoes 60 KB back), or a well-formed,
completed frame sequence. A canary synthesis runs alongside each example and must get
exactly its reference audio; a long canary runs through the first examples. After each
example no fuzzed session is left and no model is held; after the run /metrics agrees.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import LONG_TEXT, WorkerFactory
from tests.fuzz.budget import Drive, fuzz, scrape
from tests.fuzz.synth_cases import (
    CLIENT_ERRORS,
    FAULTS,
    NOT_UTF8,
    StreamCase,
    field_bytes,
    stream_cases,
)
from voicectl.audio.frames import samples_per_frame
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.worker.server import Worker

MESSAGE_LIMIT = 400  # a status message quotes what it must, cut (worker/errors.py)
CANARY = "The canary sings on."
LONG_CANARY_ID = "canary-long"  # the only session on mock:slow
# Examples per kind of fault (5 unless named): random bytes and valid streams vary most.
EXAMPLES = {"garbage": 15, "none": 10, "bad-session-id": 8, "unknown-voice": 8}


async def synthesize_raw(
    client: TTSClient, requests: tuple[bytes, ...]
) -> tuple[list[pb.AudioFrame], grpc.StatusCode | None, str]:
    """Send already-serialized requests; the frames, and the status if it failed."""
    call = client.channel.stream_stream(
        "/voicectl.v1.TTS/Synthesize",
        request_serializer=bytes,
        response_deserializer=pb.AudioFrame.FromString,
    )

    async def gen() -> AsyncIterator[bytes]:
        for request in requests:
            yield request

    frames: list[pb.AudioFrame] = []
    try:
        async for frame in call(gen()):
            frames.append(frame)
    except grpc.aio.AioRpcError as err:
        return frames, err.code(), err.details() or ""
    return frames, None, ""


def check_frames(case: StreamCase, frames: list[pb.AudioFrame]) -> None:
    """docs/protocol.md §2.6: 0, 1, 2... with no gaps, 20 ms each, the last one final."""
    assert frames, "a completed stream has at least its final frame"
    width = samples_per_frame(case.rate)
    for index, frame in enumerate(frames):
        assert frame.sequence == index
        assert frame.sample_offset == index * width
        assert frame.sample_rate == case.rate
        assert len(frame.pcm) == 2 * width
        assert frame.final == (index == len(frames) - 1)
        if case.session_id:
            assert frame.session_id == case.session_id
        else:
            assert frame.session_id.startswith("s-")
    assert frames[-1].end_reason == pb.END_REASON_COMPLETED


def check_outcome(
    case: StreamCase, frames: list[pb.AudioFrame], code: grpc.StatusCode | None, details: str
) -> None:
    assert code in case.outcomes, f"got {code}: {details!r}"
    if code is None:
        check_frames(case, frames)
        return
    assert code in CLIENT_ERRORS, f"{code}: {details!r}"
    assert details.strip(), "every error says what was wrong"
    assert len(details) <= MESSAGE_LIMIT, f"{len(details)} characters: {details[:200]!r}..."
    assert case.words in details


async def held_elsewhere(worker: Worker, client: TTSClient) -> None:
    """Wait until only the long canary (if still running) holds a session and a model."""
    while len(worker.sessions) > (LONG_CANARY_ID in worker.sessions):  # noqa: ASYNC110 - a dict
        await asyncio.sleep(0.01)
    models = await client.list_models()
    refcounts = {m.model_id: m.refcount for m in models.models}
    running = int(LONG_CANARY_ID in worker.sessions)
    assert refcounts.pop("mock:slow") in (0, running)
    assert set(refcounts.values()) == {0}, refcounts


async def open_client(address: str) -> TTSClient:
    client = TTSClient(address)
    await client.wait_ready(timeout=10)
    return client


async def canary_pcm(client: TTSClient, text: str, model_id: str = "mock:fast") -> bytes:
    pcm, _, frames = await collect_pcm(client.synthesize(text, SynthesisRequest(model_id=model_id)))
    assert frames[-1].end_reason == pb.END_REASON_COMPLETED
    return pcm


def test_fuzzed_synthesize_streams(
    drive: Drive, make_worker: WorkerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    worker = drive(make_worker(metrics_port=0))
    client = drive(open_client(worker.address))
    reference = drive(canary_pcm(client, CANARY))
    long_reference = drive(canary_pcm(client, LONG_TEXT))

    async def start_long_canary() -> asyncio.Task[tuple[bytes, int, list[pb.AudioFrame]]]:
        request = SynthesisRequest(session_id=LONG_CANARY_ID, model_id="mock:slow")
        return asyncio.create_task(collect_pcm(client.synthesize(LONG_TEXT, request)))

    long_canary = drive(start_long_canary())

    async def one(case: StreamCase) -> None:
        (frames, code, details), canary = await asyncio.gather(
            synthesize_raw(client, case.requests), canary_pcm(client, CANARY)
        )
        check_outcome(case, frames, code, details)
        assert canary == reference, "a bad stream changed another session's audio"
        await held_elsewhere(worker, client)

    ran: dict[str, int] = {}
    for fault in FAULTS:  # each kind gets its share of the budget, whatever the draw

        @fuzz(examples=EXAMPLES.get(fault, 5))
        @given(case=stream_cases(fault))
        def example(case: StreamCase) -> None:
            ran[case.fault] = ran.get(case.fault, 0) + 1
            drive(one(case))

        example()

    pcm, _, frames = drive(long_canary)
    assert pcm == long_reference, "the long canary's audio changed while bad streams ran"
    assert frames[-1].end_reason == pb.END_REASON_COMPLETED
    drive(held_elsewhere(worker, client))
    assert len(worker.sessions) == 0
    assert worker.metrics_server is not None
    samples = drive(scrape(worker.metrics_server.url))
    assert samples["voicectl_worker_sessions_active"][()] == 0
    assert samples["voicectl_worker_queue_depth"][()] == 0
    assert set(ran) == set(FAULTS)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, f"the worker logged errors: {errors[:3]}"
    drive(client.close())


UNARY = ("Control", "ListModels", "LoadModel", "UnloadModel")
# Random bytes, or a string field 1 (session_id / model_id) of any bytes, maybe a varint 2.
unary_bodies = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda value, command: field_bytes(1, value) + command,
        st.binary(max_size=40) | st.sampled_from(NOT_UTF8),
        st.sampled_from([b"", b"\x10\x01", b"\x10\x03", b"\x10\x7f", b"\x10\xff\xff\xff\xff\x0f"]),
    ),
)


def test_fuzzed_unary_requests(drive: Drive, make_worker: WorkerFactory) -> None:
    """Control and the model RPCs: bad bytes are INVALID_ARGUMENT, unknown ids NOT_FOUND."""
    worker = drive(make_worker())
    client = drive(open_client(worker.address))

    async def states() -> dict[str, tuple[int, int]]:
        models = (await client.list_models()).models
        return {m.model_id: (m.state, m.refcount) for m in models}

    before = drive(states())

    async def call(method: str, body: bytes) -> None:
        rpc = client.channel.unary_unary(
            f"/voicectl.v1.TTS/{method}", request_serializer=bytes, response_deserializer=bytes
        )
        code, details = None, ""
        try:
            await rpc(body)
        except grpc.aio.AioRpcError as err:
            code, details = err.code(), err.details() or ""
        if code is not None:  # it may parse as a valid request, e.g. ListModels
            assert code in CLIENT_ERRORS, f"{method}: {code}: {details!r}"
            assert 0 < len(details) <= MESSAGE_LIMIT, details

    @fuzz(examples=40)
    @given(method=st.sampled_from(UNARY), body=unary_bodies)
    def example(method: str, body: bytes) -> None:
        drive(call(method, body))

    example()
    assert drive(canary_pcm(client, CANARY))
    assert drive(states()) == before, "random bytes loaded or unloaded a model"
    drive(client.close())
