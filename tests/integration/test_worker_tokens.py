"""A worker with tokens, over real gRPC: what each credential may call (docs/security.md)."""

from __future__ import annotations

import asyncio
import os
import subprocess

import grpc
import pytest

from tests.conftest import WorkerFactory
from tests.e2e.test_cli import VOICECTL
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm

TOKEN = "synthesis-token-0123456789"
ADMIN = "admin-token-0123456789abcd"


async def test_calls_need_the_token_and_the_manager_the_admin_token(
    make_worker: WorkerFactory,
) -> None:
    worker = await make_worker(token=TOKEN, admin_token=ADMIN)
    async with TTSClient(worker.address, token="", admin_token="") as anonymous:
        await anonymous.wait_ready(timeout=10)  # health stays open
        with pytest.raises(grpc.aio.AioRpcError) as listing:
            await anonymous.list_models()
        assert listing.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "VOICECTL_TOKEN" in str(listing.value.details())
        with pytest.raises(grpc.aio.AioRpcError) as speaking:
            await collect_pcm(anonymous.synthesize("Hello.", SynthesisRequest(sample_rate=16000)))
        assert speaking.value.code() == grpc.StatusCode.UNAUTHENTICATED
    async with TTSClient(worker.address, token=TOKEN, admin_token="") as user:
        pcm, _, frames = await collect_pcm(user.synthesize("Hello.", SynthesisRequest()))
        assert frames
        assert pcm
        with pytest.raises(grpc.aio.AioRpcError) as loading:
            await user.load_model("mock:sine")
        assert loading.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as unloading:
            await user.unload_model("mock:fast")
        assert unloading.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with TTSClient(worker.address, token=TOKEN, admin_token=ADMIN) as admin:
        info = await admin.load_model("mock:sine")
        assert info.model_id == "mock:sine"
        assert any(m.model_id == "mock:sine" for m in (await admin.list_models()).models)


async def test_the_cli_sends_voicectl_token(make_worker: WorkerFactory) -> None:
    worker = await make_worker(token=TOKEN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECTL_")}

    def models_ls(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*VOICECTL, "models", "ls", "--worker", worker.address, "--json"],
            capture_output=True, text=True, timeout=60, env={**env, **extra},
        )  # fmt: skip

    refused = await asyncio.to_thread(models_ls, {})  # off the loop: the worker serves it
    assert refused.returncode == 5, refused.stderr
    assert "UNAUTHENTICATED" in refused.stderr
    assert "VOICECTL_TOKEN" in refused.stderr
    allowed = await asyncio.to_thread(models_ls, {"VOICECTL_TOKEN": TOKEN})
    assert allowed.returncode == 0, allowed.stderr
