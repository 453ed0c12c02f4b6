"""What a soak reads from the processes it watches, against real processes and sockets."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from voicectl.bench.peer import free_port
from voicectl.bench.soak_stack import (
    Service,
    SoakError,
    gauges,
    listening_pid,
    rss_bytes,
    service_process,
)
from voicectl.observability.metrics import MetricsServer, OrchestratorMetrics

LISTENER = (
    "import socket, time\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
    "print(s.getsockname()[1], flush=True); time.sleep(60)\n"
)


@pytest.fixture
def listener() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Another process listening on a loopback port, as a worker started by hand is."""
    proc = subprocess.Popen([sys.executable, "-c", LISTENER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc, int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()


def test_the_pid_of_a_local_worker_is_found_from_its_port(
    listener: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = listener
    assert listening_pid(f"127.0.0.1:{port}") == proc.pid
    assert listening_pid(f"localhost:{port}") == proc.pid
    assert listening_pid(f"127.0.0.1:{free_port()}") is None  # nothing listens there
    assert listening_pid(f"10.20.30.40:{port}") is None  # another machine: not sampled
    assert listening_pid("dns:worker.example:50051") is None


def test_rss_of_a_live_process_and_of_one_that_is_gone(
    listener: tuple[subprocess.Popen[str], int],
) -> None:
    proc, _ = listener
    rss = rss_bytes(proc.pid)
    assert rss is not None
    assert rss > 1_000_000  # a Python interpreter is megabytes
    proc.kill()
    proc.wait()
    assert rss_bytes(proc.pid) is None


async def test_gauges_are_read_from_metrics_or_are_none() -> None:
    metrics = OrchestratorMetrics()
    metrics.sessions.set(2)
    server = MetricsServer(metrics.registry, port=0)
    try:
        service = Service(name="orchestrator", address="", pid=None, metrics_url=server.url)
        names = ("voicectl_orchestrator_sessions_active", "voicectl_no_such_gauge")
        assert await gauges(service, names) == {names[0]: 2, names[1]: None}
    finally:
        server.close()
    # The same service once its /metrics is gone, and one whose /metrics is unknown.
    assert await gauges(service, names) == dict.fromkeys(names)
    unknown = Service(name="worker", address="", pid=None, metrics_url=None)
    assert await gauges(unknown, names) == dict.fromkeys(names)


async def test_a_service_that_dies_at_start_is_told_in_its_own_words(tmp_path: Path) -> None:
    crash = [sys.executable, "-c",
             "import sys; sys.stderr.write('bad config: port\\n'); sys.exit(2)"]  # fmt: skip
    with pytest.raises(SoakError, match=r"^worker exited with code 2: bad config: port$"):
        async with service_process("worker", crash, free_port(), tmp_path / "w.log", 0):
            raise AssertionError("a process that exited is never ready")
