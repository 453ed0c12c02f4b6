"""A session id is not a credential: only the connection that opened a stream may pause,
resume or stop it, even when every client holds the same token."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from tests.conftest import LONG_TEXT, WorkerFactory
from voicectl.rpc.client import SynthesisRequest, TTSClient
from voicectl.rpc.v1 import tts_pb2 as pb

TOKEN = "shared-synthesis-token-01"


async def test_another_connection_cannot_control_a_stream_it_did_not_open(
    make_worker: WorkerFactory,
) -> None:
    worker = await make_worker(token=TOKEN)
    owner = TTSClient(worker.address, token=TOKEN)
    # Same token, its own connection: another process would have one anyway; in this one
    # gRPC would share the first client's connection unless told to keep its own.
    own_connection = grpc.aio.insecure_channel(
        worker.address, options=[("grpc.use_local_subchannel_pool", 1)]
    )
    intruder = TTSClient(worker.address, channel=own_connection, token=TOKEN)
    try:
        request = SynthesisRequest(session_id="victim-1", model_id="mock:slow")
        call = owner.synthesize(LONG_TEXT, request)
        first = await anext(aiter(call))
        assert first.sequence == 0
        for command in (pb.STOP, pb.PAUSE, pb.RESUME):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await intruder.control("victim-1", command)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "opened by another connection" in str(refused.value.details())
        session = worker.sessions.get("victim-1")
        assert session is not None
        assert session.state.name == "STREAMING"  # the stream was not touched
        paused = await owner.pause("victim-1")  # its opener still may
        assert paused.state == pb.SESSION_STATE_PAUSED
        stopped = await owner.stop("victim-1")
        assert stopped.state == pb.SESSION_STATE_STOPPED
        frames = [frame async for frame in call]
        assert frames[-1].final
        assert frames[-1].end_reason == pb.END_REASON_STOPPED
        await asyncio.sleep(0)
        # Once it has ended, everyone hears the same NOT_FOUND: no owner is left to guard.
        for client in (owner, intruder):
            with pytest.raises(grpc.aio.AioRpcError) as gone:
                await client.control("victim-1", pb.STOP)
            assert gone.value.code() == grpc.StatusCode.NOT_FOUND
        assert "victim-1" not in worker.sessions
    finally:
        await owner.close()
        await intruder.close()
