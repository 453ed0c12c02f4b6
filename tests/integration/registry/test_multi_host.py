"""Redis and two workers on three "hosts" (network namespaces), routed from a fourth.

Fails (never skips) where namespaces cannot be created: CI runs as root with iproute2.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import pytest

from tests.integration.registry.conftest import RedisServer, WorkerProcesses, wait_for_workers
from tests.integration.registry.netns import TestNetwork
from voicectl.registry.failover import RoutedStream, RoutedSynthesizer
from voicectl.registry.redis_backend import RedisRegistry
from voicectl.registry.routing import Policy, Router, RoutingConfig
from voicectl.rpc.client import SynthesisRequest
from voicectl.rpc.v1 import tts_pb2 as pb


@pytest.fixture
def network() -> Iterator[TestNetwork]:
    net = TestNetwork()
    try:
        net.up()
    except (OSError, RuntimeError) as exc:
        net.close()
        pytest.fail(
            f"cannot create network namespaces for the multi-host test ({exc}); "
            "it needs root and iproute2 (apt-get install -y iproute2)"
        )
    yield net
    net.close()


async def test_workers_on_other_hosts_register_and_serve(network: TestNetwork, prefix: str) -> None:
    redis_ns, redis_ip = network.add_host("r")
    worker_a_ns, worker_a_ip = network.add_host("a")
    worker_b_ns, worker_b_ip = network.add_host("b")
    server = RedisServer(6379, bind=redis_ip, prefix=["ip", "netns", "exec", redis_ns])
    server.start()  # answers PING across the bridge from the root namespace
    procs = WorkerProcesses(server.url, prefix)
    try:
        # A guesses its address from the route to Redis; B is told explicitly.
        procs.spawn("--host", "0.0.0.0", "--port", "50051", netns=worker_a_ns)
        procs.spawn("--host", "0.0.0.0", "--port", "50051", "--advertise-host", worker_b_ip,
                    netns=worker_b_ns)  # fmt: skip
        registry = await RedisRegistry.connect(server.url, prefix=prefix)
        async with registry:
            records = await wait_for_workers(registry, 2, procs)
            expected = {f"{worker_a_ip}:50051", f"{worker_b_ip}:50051"}
            assert {r.worker_id for r in records} == expected
            assert {r.address for r in records} == expected

            synth = RoutedSynthesizer(
                registry,
                router=Router(RoutingConfig(policy=Policy.LEAST_BUSY), random.Random(1)),
            )
            request = SynthesisRequest(model_id="mock:sine", sample_rate=16000)
            streams = [synth.stream("Hello from another host.", request) for _ in range(2)]
            replies = await asyncio.gather(*(drain(s) for s in streams))
            assert all(reply[-1].final for reply in replies)
            assert {s.worker.worker_id for s in streams if s.worker} == expected
            # Same text, same model: the two hosts produce the same samples.
            assert b"".join(f.pcm for f in replies[0]) == b"".join(f.pcm for f in replies[1])
            await synth.close()
    finally:
        procs.close()
        server.stop()


async def drain(stream: RoutedStream) -> list[pb.AudioFrame]:
    return [frame async for frame in stream]
