"""Client -> real worker over loopback gRPC -> audio, with PAUSE / RESUME / STOP."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from tests.conftest import LONG_TEXT
from voicectl.audio.frames import samples_per_frame
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.worker.server import Worker


async def wait_until(predicate: object, timeout: float = 5.0) -> None:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_text_becomes_audio_frames(client: TTSClient) -> None:
    pcm, rate, frames = await collect_pcm(client.synthesize("Hello there, world."))
    assert rate == 24000
    assert len(frames) > 10
    audio = np.frombuffer(pcm, dtype="<i2")
    assert np.abs(audio).max() > 1000, "audio must not be silent"
    assert [f.sequence for f in frames] == list(range(len(frames)))
    assert [f.sample_offset for f in frames] == [i * 480 for i in range(len(frames))]
    assert frames[-1].final
    assert frames[-1].end_reason == pb.END_REASON_COMPLETED
    assert not any(f.final for f in frames[:-1])


@pytest.mark.parametrize("rate", [16000, 22050, 24000, 48000])
async def test_frame_sizes_are_exactly_20ms(client: TTSClient, rate: int) -> None:
    call = client.synthesize("Frame sizes are exact.", SynthesisRequest(sample_rate=rate))
    sizes = set()
    async for frame in call:
        assert frame.sample_rate == rate
        sizes.add(len(frame.pcm))
    assert sizes == {samples_per_frame(rate) * 2}


async def test_duration_follows_text_length(client: TTSClient) -> None:
    short, _, _ = await collect_pcm(client.synthesize("Hi."))
    long, _, _ = await collect_pcm(client.synthesize(LONG_TEXT))
    assert len(long) > 10 * len(short)


async def test_streaming_text_chunks_give_same_audio_as_one_chunk(client: TTSClient) -> None:
    whole, _, _ = await collect_pcm(client.synthesize("Streaming text in pieces works."))
    pieces, _, _ = await collect_pcm(
        client.synthesize(["Stream", "ing text ", "in pie", "ces works."])
    )
    assert whole == pieces


async def _uninterrupted(client: TTSClient, request: SynthesisRequest) -> bytes:
    pcm, _, _ = await collect_pcm(client.synthesize(LONG_TEXT, request))
    return pcm


async def test_pause_halts_emission_and_resume_is_bit_identical(
    worker: Worker, client: TTSClient
) -> None:
    request = SynthesisRequest(model_id="mock:slow", lookahead_ms=200)
    reference = await _uninterrupted(client, request)

    request = SynthesisRequest(session_id="pause-1", model_id="mock:slow", lookahead_ms=200)
    call = client.synthesize(LONG_TEXT, request)
    received: list[pb.AudioFrame] = []
    first = asyncio.Event()

    async def reader() -> None:
        async for frame in call:
            received.append(frame)
            first.set()

    task = asyncio.create_task(reader())
    await first.wait()
    paused = await client.pause("pause-1")
    assert paused.state == pb.SESSION_STATE_PAUSED
    await asyncio.sleep(0.6)
    # No frame at or after the PAUSE reply's next_sequence arrives while paused.
    assert all(f.sequence < paused.next_sequence for f in received)
    assert len(received) == paused.next_sequence
    # Look-ahead generation is bounded while paused (200 ms = 10 frames).
    session = worker.sessions.get("pause-1")
    assert session is not None
    assert session.frames_generated - session.next_sequence <= 10
    resumed = await client.resume("pause-1")
    assert resumed.state == pb.SESSION_STATE_STREAMING
    assert resumed.next_sequence == paused.next_sequence
    await task
    assert [f.sequence for f in received] == list(range(len(received)))
    assert b"".join(f.pcm for f in received) == reference


async def test_stop_ends_stream_with_final_frame_and_frees_session(
    worker: Worker, client: TTSClient
) -> None:
    call = client.synthesize(LONG_TEXT, SynthesisRequest(session_id="stop-1", model_id="mock:slow"))
    frames = []
    async for frame in call:
        frames.append(frame)
        if len(frames) == 3:
            reply = await client.stop("stop-1")
            assert reply.state == pb.SESSION_STATE_STOPPED
    assert frames[-1].final
    assert frames[-1].end_reason == pb.END_REASON_STOPPED
    assert len(frames) < 200, "STOP must cut the stream short"
    await wait_until(lambda: "stop-1" not in worker.sessions)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.pause("stop-1")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert worker.manager.entry("mock:slow").refcount == 0


async def test_client_disconnect_frees_session(worker: Worker, client: TTSClient) -> None:
    call = client.synthesize(LONG_TEXT, SynthesisRequest(session_id="gone-1", model_id="mock:slow"))
    async for _frame in call:
        break
    assert "gone-1" in worker.sessions
    call.cancel()
    await wait_until(lambda: "gone-1" not in worker.sessions)
    await wait_until(lambda: worker.manager.entry("mock:slow").refcount == 0)


async def test_two_concurrent_sessions_do_not_disturb_each_other(client: TTSClient) -> None:
    text_a, text_b = "Alpha bravo charlie delta echo.", "One two three four five six seven."
    alone_a, _, _ = await collect_pcm(client.synthesize(text_a, SynthesisRequest(voice="low")))
    alone_b, _, _ = await collect_pcm(client.synthesize(text_b, SynthesisRequest(voice="high")))
    call_a = client.synthesize(
        text_a, SynthesisRequest(session_id="a", voice="low", model_id="mock:slow")
    )
    call_b = client.synthesize(
        text_b, SynthesisRequest(session_id="b", voice="high", model_id="mock:slow")
    )

    async def pause_a_midway() -> None:
        await asyncio.sleep(0.05)
        await client.pause("a")
        await asyncio.sleep(0.2)
        await client.resume("a")

    (pcm_a, _, frames_a), (pcm_b, _, frames_b), _ = await asyncio.gather(
        collect_pcm(call_a), collect_pcm(call_b), pause_a_midway()
    )
    assert pcm_a == alone_a
    assert pcm_b == alone_b
    assert {f.session_id for f in frames_a} == {"a"}
    assert {f.session_id for f in frames_b} == {"b"}


async def test_server_assigns_session_id_when_empty(client: TTSClient) -> None:
    _, _, frames = await collect_pcm(client.synthesize("Hello."))
    ids = {f.session_id for f in frames}
    assert len(ids) == 1
    assert next(iter(ids)).startswith("s-")


async def test_shutdown_drains_running_streams_and_control_still_works(worker: Worker) -> None:
    async with TTSClient(worker.address) as client:
        call = client.synthesize(
            LONG_TEXT, SynthesisRequest(session_id="drain", model_id="mock:slow")
        )
        frames: list[pb.AudioFrame] = []

        async def reader() -> None:
            async for frame in call:
                frames.append(frame)

        task = asyncio.create_task(reader())
        await wait_until(lambda: len(frames) > 0)
        await client.pause("drain")
        stopping = asyncio.create_task(worker.stop(grace=30))
        await wait_until(lambda: worker.service.draining)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await collect_pcm(client.synthesize("new work"))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in (err.value.details() or "")
        resumed = await client.resume("drain")  # Control still reaches the paused stream
        assert resumed.state == pb.SESSION_STATE_STREAMING
        await task
        await stopping
    assert frames[-1].end_reason == pb.END_REASON_COMPLETED
