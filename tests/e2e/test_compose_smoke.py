"""The Compose stack's wiring, proven where its images cannot be built: every service of
docker/docker-compose.yml + compose.cpu.yml (as compose-go resolves them) runs as the
local process its command names, with its environment, the image's ENV and paths,
host names and container ports mapped onto loopback. Each health check must pass, in
depends_on order, and a spoken turn goes through the stack with `voicectl talk`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.docker_stack import (
    COMPOSE,
    CPU_OVERRIDE,
    REPO,
    STACK_ENV,
    LocalService,
    compose_check_binary,
    container_ports,
    local_service,
    resolve_project,
    start_order,
)
from tests.e2e.test_cli import free_port

pytestmark = pytest.mark.slow

VOICECTL = [sys.executable, "-m", "voicectl"]
HEALTHY_WITHIN_S = 180


def _healthy(service: LocalService, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + HEALTHY_WITHIN_S
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{service.name} exited {proc.returncode}: {log.read_text()}")
        last = subprocess.run(service.healthcheck, capture_output=True, text=True, timeout=30,
                              env={**os.environ, **service.env}, check=False)  # fmt: skip
        if last.returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"{service.name} never became healthy: {last}\n{log.read_text()}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LocalService]]:
    scratch = tmp_path_factory.mktemp("stack")
    services = resolve_project(compose_check_binary(scratch), COMPOSE, CPU_OVERRIDE)["services"]
    assert isinstance(services, dict)
    every_port = [port for service in services.values() for port in container_ports(service)]
    assert len(every_port) == len(set(every_port)), "the smoke maps each container port once"
    ports = {port: free_port() for port in every_port}
    executables = {"voicectl": VOICECTL}
    local = {name: local_service(name, service, executables, ports, set(services))
             for name, service in services.items()}  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name in start_order(services):
            log = scratch / f"{name}.log"
            env = {**os.environ, **local[name].env}
            with log.open("wb") as out:
                proc = subprocess.Popen(local[name].argv, stdout=out, stderr=subprocess.STDOUT,
                                        env=env, cwd=scratch)  # fmt: skip
            procs.append(proc)
            _healthy(local[name], proc, log)
        yield local
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_the_local_stack_is_the_compose_stack(stack: dict[str, LocalService]) -> None:
    assert list(stack) == ["orchestrator", "redis", "tts0"]
    assert stack["redis"].argv[0] == "redis-server"
    worker = stack["tts0"]
    assert worker.argv[len(VOICECTL)] == "worker"
    config = worker.argv[worker.argv.index("--config") + 1]
    assert Path(config) == REPO / "configs" / "worker.yaml"  # /etc/voicectl = COPY configs
    assert worker.env["VOICECTL_VOICEPACKS_DIR"] == str(REPO / "voicepacks")  # the volume
    assert worker.env["VOICECTL_HOST"] == "127.0.0.1"  # the image's 0.0.0.0, on loopback
    assert worker.env["VOICECTL_REDIS"].startswith(f"redis://:{STACK_ENV['REDIS_PASSWORD']}@")


def test_a_spoken_turn_goes_through_the_stack(stack: dict[str, LocalService]) -> None:
    orchestrator = stack["orchestrator"]
    url = orchestrator.healthcheck[orchestrator.healthcheck.index("--url") + 1]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    refused = subprocess.run([*VOICECTL, "talk", "--url", url, "--text", "hello"],
                             capture_output=True, text=True, env=env, timeout=120,
                             check=False)  # fmt: skip
    assert refused.returncode == 5, refused.stderr  # the stack is not open to everyone
    env["VOICECTL_ORCHESTRATOR_TOKEN"] = STACK_ENV["VOICECTL_ORCHESTRATOR_TOKEN"]
    result = subprocess.run(
        [*VOICECTL, "talk", "--url", url, "--say", "What time is it?", "--json"],
        capture_output=True, text=True, env=env, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["replies"], summary
    assert "time" in summary["replies"][0].lower(), summary  # the echo LLM heard the question
    # The reply was routed over Redis to the worker the compose file names.
    redis_url = stack["tts0"].env["VOICECTL_REDIS"]
    listing = subprocess.run(
        [*VOICECTL, "registry", "ls", "--redis", redis_url, "--json"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**env, "VOICECTL_REGISTRY_SECRET": STACK_ENV["VOICECTL_REGISTRY_SECRET"]},
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    assert "tts0" in listing.stdout
