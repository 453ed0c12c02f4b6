"""Registry fixtures: a real redis-server on a free port, registries, registered workers."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import WorkerFactory
from voicectl.registry.base import WorkerRecord
from voicectl.registry.redis_backend import RedisRegistry
from voicectl.worker.registration import RegistrationSettings, WorkerRegistration
from voicectl.worker.server import Worker

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
VOICECTL = [sys.executable, "-m", "voicectl"]
CHILD_ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private redis-server process (no persistence) that can be stopped and restarted."""

    def __init__(self, port: int, *, bind: str = "127.0.0.1", prefix: list[str] | None = None):
        self.port = port
        self.bind = bind
        self.prefix = prefix or []  # e.g. ["ip", "netns", "exec", "ns"]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.bind}:{self.port}/0"

    def start(self) -> None:
        if not Path(REDIS_SERVER).exists():
            pytest.fail("redis-server is not installed: apt-get install -y redis-server")
        self.proc = subprocess.Popen(
            [*self.prefix, REDIS_SERVER, "--port", str(self.port), "--bind", self.bind,
             "--save", "", "--appendonly", "no", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            try:
                with socket.create_connection((self.bind, self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING in 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session; tests isolate themselves with a key prefix."""
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def registry(redis_server: RedisServer, prefix: str) -> AsyncIterator[RedisRegistry]:
    reg = await RedisRegistry.connect(redis_server.url, prefix=prefix)
    yield reg
    await reg.close()


RegisteredFactory = Callable[..., Awaitable[tuple[Worker, WorkerRegistration]]]


@pytest.fixture
async def make_registered(
    make_worker: WorkerFactory, registry: RedisRegistry
) -> AsyncIterator[RegisteredFactory]:
    """In-process mock workers, registered in ``registry`` with a fast heartbeat."""
    registrations: list[WorkerRegistration] = []

    async def factory(
        *, interval: float = 0.2, ttl: float = 1.0, target: RedisRegistry | None = None,
        **overrides: object,
    ) -> tuple[Worker, WorkerRegistration]:  # fmt: skip
        worker = await make_worker(**overrides)
        settings = replace(RegistrationSettings.for_worker(worker), interval=interval, ttl=ttl)
        registration = WorkerRegistration(worker, target or registry, settings)
        await registration.start()
        registrations.append(registration)
        return worker, registration

    yield factory
    for registration in registrations:
        await registration.stop()


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 15.0, step: float = 0.05
) -> None:
    """Poll ``check`` until it is true; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {timeout:g} s")
        await asyncio.sleep(step)


async def workers_of(registry: RedisRegistry) -> dict[str, WorkerRecord]:
    return {r.worker_id: r for r in await registry.list_workers()}


class WorkerProcesses:
    """``voicectl worker`` subprocesses registered in Redis; all killed at teardown."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self.procs: list[subprocess.Popen[str]] = []

    def spawn(
        self, *args: str, env: dict[str, str] | None = None, netns: str | None = None
    ) -> subprocess.Popen[str]:
        command = [
            *VOICECTL, "worker", "--port", "0", "--default-model", "mock:sine",
            "--redis", self.redis_url, "--registry-prefix", self.prefix,
            "--heartbeat", "0.2", "--registry-ttl", "1.0", *args,
        ]  # fmt: skip
        if netns is not None:
            command = ["ip", "netns", "exec", netns, *command]
        proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**CHILD_ENV, **(env or {})},
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with_group = os.getpgid(proc.pid)
                os.killpg(with_group, signal.SIGKILL)
            proc.wait(timeout=10)
            if proc.stderr is not None:
                proc.stderr.close()


@pytest.fixture
def worker_processes(redis_server: RedisServer, prefix: str) -> Iterator[WorkerProcesses]:
    procs = WorkerProcesses(redis_server.url, prefix)
    yield procs
    procs.close()


async def wait_for_workers(
    registry: RedisRegistry, count: int, procs: WorkerProcesses | None = None,
    timeout: float = 30.0,
) -> list[WorkerRecord]:  # fmt: skip
    """Poll until ``count`` workers are registered (and fail early if a process died)."""

    async def ready() -> bool:
        if procs is not None:
            for proc in procs.procs:
                if proc.poll() is not None and proc.returncode not in (0, -9):
                    err = proc.stderr.read() if proc.stderr else ""
                    pytest.fail(f"worker exited with {proc.returncode}: {err[-2000:]}")
        return len(await registry.list_workers()) == count

    await wait_until(ready, timeout=timeout)
    return await registry.list_workers()
