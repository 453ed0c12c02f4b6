"""One way to address a worker: HOST:PORT or grpc://HOST:PORT everywhere, and for the
orchestrator's worker key also redis://... and embedded://."""

from __future__ import annotations

import pytest

from voicectl.orchestrator.config import OrchestratorConfigError, load_orchestrator_config
from voicectl.rpc.address import WorkerAddressError, grpc_target, split_host_port
from voicectl.rpc.client import TTSClient


@pytest.mark.parametrize(
    ("address", "target"),
    [
        ("127.0.0.1:50051", "127.0.0.1:50051"),
        ("grpc://tts0:50051", "tts0:50051"),
        ("grpc://[::1]:50051/", "[::1]:50051"),
        (" [::1]:7 ", "[::1]:7"),
        ("unix:/run/voicectl.sock", "unix:/run/voicectl.sock"),
        ("dns:///tts.internal:50051", "dns:///tts.internal:50051"),
    ],
)
def test_addresses_become_grpc_targets(address: str, target: str) -> None:
    assert grpc_target(address) == target


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("localhost", "give HOST:PORT, grpc://HOST:PORT"),
        ("http://tts0:50051", "give HOST:PORT"),
        ("tts0:0", "the port must be 1..65535"),
        ("tts0:http", "give HOST:PORT"),
    ],
)
def test_bad_addresses_say_which_forms_work(address: str, why: str) -> None:
    with pytest.raises(WorkerAddressError, match=why):
        split_host_port(address)


async def test_the_client_dials_a_grpc_url_like_host_port() -> None:
    async with TTSClient("grpc://127.0.0.1:50051") as client:
        assert client.target == "127.0.0.1:50051"


def test_the_orchestrators_worker_key_takes_every_backend() -> None:
    routed = load_orchestrator_config(cli={"worker": "redis://10.0.0.5:6379/0"})
    assert (routed.worker, routed.redis) == ("", "redis://10.0.0.5:6379/0")
    embedded = load_orchestrator_config(cli={"worker": "embedded://"})
    assert (embedded.worker, embedded.redis) == ("", "")
    direct = load_orchestrator_config(cli={"worker": "grpc://tts0:50051"})
    assert direct.worker == "grpc://tts0:50051"
    with pytest.raises(OrchestratorConfigError, match=r"--worker .*must be HOST:PORT"):
        load_orchestrator_config(cli={"worker": "tts0"})
    with pytest.raises(OrchestratorConfigError, match="two registries"):
        load_orchestrator_config(cli={"worker": "redis://a:6379/0", "redis": "redis://b:6379/0"})
