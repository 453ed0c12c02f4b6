"""`voicectl health worker|orchestrator`, the probes the container health checks run,
against real services on loopback."""

from __future__ import annotations

import asyncio
import json

import pytest
from grpc_health.v1 import health_pb2

from tests.conftest import OrchestratorFactory, WorkerFactory
from tests.e2e.test_cli import ENV, VOICECTL, free_port
from voicectl.talk.client import HandshakeRefused, TalkClient
from voicectl.worker.servicer import SERVICE_NAME

TOKEN = "conversation-token-0123"


async def health(*args: str) -> tuple[int, str, str]:
    """Run the CLI without blocking the loop the in-process services answer on."""
    proc = await asyncio.create_subprocess_exec(
        *VOICECTL, "health", *args, env=ENV,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_worker_probe_follows_the_grpc_health_status(make_worker: WorkerFactory) -> None:
    worker = await make_worker()
    code, out, err = await health("worker", "--worker", worker.address, "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "service": "worker", "target": worker.address, "status": "SERVING", "serving": True,
    }  # fmt: skip
    # Draining or still loading: up, but a load balancer should not send it work.
    await worker.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.NOT_SERVING)
    code, out, _ = await health("worker", "--worker", worker.address)
    assert code == 1
    assert "NOT_SERVING" in out


async def test_worker_probe_exit_codes_for_nothing_there_and_bad_flags() -> None:
    code, _, err = await health("worker", "--worker", f"127.0.0.1:{free_port()}")
    assert code == 3
    assert "unreachable" in err
    code, _, err = await health("worker", "--worker", "no-port-here")
    assert code == 2
    assert "--worker" in err
    code, _, err = await health("worker", "--timeout", "0")
    assert code == 2
    assert "--timeout must be > 0" in err


async def test_orchestrator_probe_needs_no_token_but_sessions_still_do(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> None:
    worker = await make_worker()
    orchestrator = await make_orchestrator(worker.address, auth_tokens=(TOKEN,))
    code, out, err = await health("orchestrator", "--url", orchestrator.address, "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "SERVING"
    with pytest.raises(HandshakeRefused) as refused:
        async with TalkClient(orchestrator.address, token=""):
            pass
    assert refused.value.status == 401
    assert not orchestrator.sessions
    code, _, err = await health("orchestrator", "--url", f"ws://127.0.0.1:{free_port()}")
    assert code == 3
    assert "unreachable" in err
    code, _, err = await health("orchestrator", "--url", "http://127.0.0.1:8765")
    assert code == 2
    assert "ws://HOST:PORT" in err
