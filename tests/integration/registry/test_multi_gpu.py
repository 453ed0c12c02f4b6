"""``voicectl worker --gpu 0,1``: one supervised, registered process per GPU (CPU + mock here)."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from tests.integration.registry.conftest import (
    WorkerProcesses,
    wait_for_workers,
    wait_until,
    workers_of,
)
from voicectl.registry.redis_backend import RedisRegistry


def two_free_ports() -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base >= 65535:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", base))
                b.bind(("127.0.0.1", base + 1))
            return base
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


async def test_two_gpus_two_supervised_registered_processes(
    registry: RedisRegistry, worker_processes: WorkerProcesses
) -> None:
    base = two_free_ports()
    supervisor = worker_processes.spawn("--gpu", "0,1", "--port", str(base))
    records = await wait_for_workers(registry, 2, worker_processes)
    assert {r.gpu: r.port for r in records} == {0: base, 1: base + 1}
    for record in records:
        assert parent_of(record.pid) == supervisor.pid
        assert environ_of(record.pid)["CUDA_VISIBLE_DEVICES"] == str(record.gpu)

    # A crashed child comes back (same port, so the same worker id) with a new pid.
    crashed = next(r for r in records if r.gpu == 0)
    os.kill(crashed.pid, signal.SIGKILL)

    async def restarted() -> bool:
        found = (await workers_of(registry)).get(crashed.worker_id)
        return found is not None and found.pid != crashed.pid

    await wait_until(restarted, timeout=30)
    back = (await workers_of(registry))[crashed.worker_id]
    assert environ_of(back.pid)["CUDA_VISIBLE_DEVICES"] == "0"
    assert parent_of(back.pid) == supervisor.pid

    # SIGTERM (like Ctrl-C) stops every child; they deregister on the way out.
    children = [r.pid for r in await registry.list_workers()]
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=30) == 0
    assert not any(alive(pid) for pid in children)
    assert await registry.list_workers() == []
