"""The processes a soak watches and what it reads from them.

A soak measures the memory of a worker and an orchestrator, so both run as their own
processes (``voicectl worker``, ``voicectl orchestrator``), each with ``/metrics`` on a
free port; with ``--worker`` only the orchestrator is started, and the worker's pid is
found from its listening port when it runs on this machine. Each child logs to a file
so a crash can be told in its own words.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import sys
import tempfile
import urllib.request
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import psutil
from prometheus_client.parser import text_string_to_metric_families

from voicectl.bench.peer import PeerUnavailable, free_port, wait_for_port
from voicectl.rpc.client import TTSClient
from voicectl.rpc.v1 import tts_pb2 as pb

START_TIMEOUT_S = 60.0
LOG_TAIL_LINES = 5


class SoakError(RuntimeError):
    """A service the soak needs did not start, or cannot be reached."""


@dataclass
class Service:
    """One watched process: its address, its pid (None: not on this machine), its
    ``/metrics`` URL (None: unknown) and, when the soak started it, the child and its log."""

    name: str
    address: str
    pid: int | None
    metrics_url: str | None
    child: asyncio.subprocess.Process | None = None
    log: Path | None = None

    def exit_note(self) -> str | None:
        """Why the child is gone (code and the last lines of its log), or None if alive."""
        if self.child is None or self.child.returncode is None:
            return None
        tail = ""
        if self.log is not None and self.log.exists():
            lines = self.log.read_text(errors="replace").strip().splitlines()
            tail = ": " + " | ".join(lines[-LOG_TAIL_LINES:]) if lines else ""
        return f"{self.name} exited with code {self.child.returncode}{tail}"


@contextlib.asynccontextmanager
async def service_process(
    name: str, command: Sequence[str], port: int, log: Path, metrics_port: int
) -> AsyncIterator[Service]:
    """Run ``command`` until the block ends (SIGTERM, then SIGKILL after 10 s)."""
    with log.open("wb") as sink:
        child = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=sink
        )
    service = Service(name=name, address=f"127.0.0.1:{port}", pid=child.pid,
                      metrics_url=f"http://127.0.0.1:{metrics_port}/metrics", child=child,
                      log=log)  # fmt: skip
    try:
        try:
            await wait_for_port(port, child, name)
        except PeerUnavailable as exc:
            note = service.exit_note()
            raise SoakError(note or str(exc)) from None
        yield service
    finally:
        if child.returncode is None:
            child.terminate()
            try:
                await asyncio.wait_for(child.wait(), 10)
            except TimeoutError:
                child.kill()
                await child.wait()


def _voicectl(*args: str) -> list[str]:
    return [sys.executable, "-m", "voicectl", *args, "--log-level", "warning"]


def listening_pid(target: str) -> int | None:
    """The pid listening on ``target``'s port when its host is this machine's loopback."""
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local or not port.isdigit():
        return None
    with contextlib.suppress(psutil.AccessDenied):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == int(port):
                return conn.pid
    return None


@contextlib.asynccontextmanager
async def stack(
    *, worker: str | None, model_id: str, connect_timeout: float
) -> AsyncIterator[tuple[Service, Service]]:
    """(worker, orchestrator), both ready; the worker is ``worker`` when one is given."""
    async with contextlib.AsyncExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="voicectl-soak-")))
        if worker is None:
            port, metrics = free_port(), free_port()
            model = ["--default-model", model_id] if model_id else []
            command = _voicectl("worker", "--port", str(port), "--ttl", "0",
                                "--metrics-port", str(metrics), *model)  # fmt: skip
            tts = await stack.enter_async_context(
                service_process("worker", command, port, logs / "worker.log", metrics)
            )
        else:
            tts = Service(name="worker", address=worker, pid=listening_pid(worker),
                          metrics_url=None)  # fmt: skip
        async with TTSClient(tts.address) as client:
            try:
                await client.wait_ready(timeout=START_TIMEOUT_S if worker is None
                                        else connect_timeout)  # fmt: skip
            except (grpc.aio.AioRpcError, TimeoutError) as exc:
                detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
                raise SoakError(f"worker {tts.address} is not serving: {detail}") from None
        port, metrics = free_port(), free_port()
        command = _voicectl("orchestrator", "--ws-port", str(port), "--worker", tts.address,
                            "--metrics-port", str(metrics))  # fmt: skip
        orchestrator = await stack.enter_async_context(
            service_process("orchestrator", command, port, logs / "orchestrator.log", metrics)
        )
        orchestrator.address = f"ws://127.0.0.1:{port}"
        yield tts, orchestrator


def rss_bytes(pid: int) -> int | None:
    """The process's resident set size, or None once it is gone."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None


def _scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        sample.name: float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


async def gauges(service: Service, names: Sequence[str]) -> dict[str, int | None]:
    """The unlabelled ``names`` from ``service``'s /metrics (None when unreadable)."""
    if service.metrics_url is None:
        return dict.fromkeys(names)
    try:
        values = await asyncio.to_thread(_scrape, service.metrics_url)
    except OSError:
        return dict.fromkeys(names)
    return {name: int(values[name]) if name in values else None for name in names}


async def refcounts(address: str) -> dict[str, int] | None:
    """Refcount of every model that is not merely available (ListModels), None if the
    worker does not answer."""
    try:
        async with TTSClient(address) as client, asyncio.timeout(10):
            listing = await client.list_models()
    except (grpc.aio.AioRpcError, TimeoutError):
        return None
    return {m.model_id: int(m.refcount) for m in listing.models
            if m.state != pb.MODEL_STATE_AVAILABLE or m.refcount}  # fmt: skip


async def model_id_of(address: str, wanted: str) -> str:
    """``wanted``, or the worker's default model when it is empty."""
    if wanted:
        return wanted
    async with TTSClient(address) as client:
        listing = await client.list_models()
    return str(listing.default_model_id)
