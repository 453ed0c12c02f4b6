"""docker/ checked without a Docker engine: hadolint on each Dockerfile, compose-go on the
Compose files, and every command, flag, variable, port and path they name against the
CLI and the repository."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from tests.e2e.docker_stack import (
    COMPOSE,
    CPU_OVERRIDE,
    DOCKERFILES,
    REPO,
    STACK_ENV,
    Dockerfile,
    compose_check,
    compose_check_binary,
    container_ports,
    dockerfile_of,
    dockerignore_allows,
    resolve_project,
)
from voicectl.cli.app import app
from voicectl.cli.config import Service, resolved_rows
from voicectl.tokens import ADMIN_TOKEN_ENV, ORCHESTRATOR_TOKEN_ENV, TOKEN_ENV

HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or "hadolint"
# Variables a voicectl process reads besides its configuration keys: the clients' tokens.
CLIENT_ENV = {TOKEN_ENV, ADMIN_TOKEN_ENV, ORCHESTRATOR_TOKEN_ENV}


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compose_check_binary(tmp_path_factory.mktemp("compose-check"))


@pytest.fixture(scope="module")
def project(checker: Path) -> dict[str, dict[str, object]]:
    services = resolve_project(checker, COMPOSE)["services"]
    assert isinstance(services, dict)
    return services


@pytest.fixture(scope="module")
def cpu_project(checker: Path) -> dict[str, dict[str, object]]:
    services = resolve_project(checker, COMPOSE, CPU_OVERRIDE)["services"]
    assert isinstance(services, dict)
    return services


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HADOLINT, "--no-color", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip


def test_there_is_an_orchestrator_and_a_tts_dockerfile() -> None:
    assert {path.name for path in DOCKERFILES} == {"Dockerfile.orchestrator", "Dockerfile.tts"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda path: path.name)
def test_hadolint_passes(path: Path) -> None:
    result = hadolint(path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore" in line:  # each ignore says why, in the comment above it
            assert lines[number - 1].lstrip().startswith("#"), f"line {number + 1}: no reason"


def test_hadolint_fails_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get install curl\n")
    result = hadolint(careless)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # :latest
    assert "DL3014" in result.stdout  # apt-get install without -y


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda path: path.name)
def test_images_are_pinned_multi_stage_and_run_as_non_root(path: Path) -> None:
    dockerfile = Dockerfile.read(path)
    assert len(dockerfile.args("FROM")) >= 2, "multi-stage: build tools stay out of the image"
    for base in re.findall(r"^ARG \w+_IMAGE=(\S+)$", path.read_text(), re.MULTILINE):
        assert re.search(r":\d[\w.-]*$", base), f"{base}: pin the base image by version tag"
    assert dockerfile.args("USER")[-1] == "10001:10001"
    assert "uv sync --frozen" in path.read_text(), "install from uv.lock"
    assert dockerfile.exec_form("HEALTHCHECK")[:2] == ["voicectl", "health"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda path: path.name)
def test_every_copy_source_exists_and_reaches_the_build(path: Path) -> None:
    copies = Dockerfile.read(path).copies_from_context()
    assert copies
    for sources, _ in copies:
        for source in sources:
            assert (REPO / source).exists(), f"{path.name}: COPY {source} does not exist"
            assert dockerignore_allows(path, source), f"{path.name}: {source} is ignored"
    assert not dockerignore_allows(path, "tests/conftest.py")
    assert not dockerignore_allows(path, "src/voicectl/__pycache__/app.cpython-311.pyc")


def test_compose_files_validate_with_compose_go(
    project: dict[str, dict[str, object]], cpu_project: dict[str, dict[str, object]]
) -> None:
    assert set(project) == {"redis", "tts0", "orchestrator"}
    gpu = project["tts0"]["deploy"]["resources"]["reservations"]["devices"]  # type: ignore[index]
    assert gpu == [{"capabilities": ["gpu"], "driver": "nvidia", "device_ids": ["0"]}]
    assert project["tts0"]["environment"]["VOICECTL_GPU"] == "0"  # type: ignore[index]
    assert "deploy" not in cpu_project["tts0"]
    assert "VOICECTL_GPU" not in cpu_project["tts0"]["environment"]  # type: ignore[operator]
    assert cpu_project["tts0"]["build"]["args"]["TORCH_VERSION"] == ""  # type: ignore[index]
    for services in (project, cpu_project):
        for name, service in services.items():
            for dependency in service.get("depends_on") or {}:  # type: ignore[attr-defined]
                condition = service["depends_on"][dependency]["condition"]  # type: ignore[index]
                assert condition == "service_healthy", f"{name} -> {dependency}"
            dockerfile = dockerfile_of(service)
            assert dockerfile is None or dockerfile.path in DOCKERFILES


def test_compose_go_rejects_what_docker_compose_would(checker: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "compose.yml"
    bogus.write_text("services:\n  a:\n    image: redis:7.4.2-alpine\n    restrat: always\n")
    result = compose_check(checker, bogus)
    assert result.returncode == 1
    assert "restrat" in result.stderr
    unset = {key: value for key, value in STACK_ENV.items() if key != "VOICECTL_TOKEN"}
    result = compose_check(checker, COMPOSE, env=unset)
    assert result.returncode == 1
    assert "set VOICECTL_TOKEN in docker/.env" in result.stderr
    documented = set(re.findall(r"^#? ?([A-Z_]+)=", (COMPOSE.parent / "env.example").read_text(),
                                re.MULTILINE))  # fmt: skip
    assert set(STACK_ENV) <= documented


def _parses(argv: list[str]) -> None:
    """Parse ``argv`` (after ``voicectl``) with the real CLI: an unknown command, option
    or bad value raises click's usage error."""
    command: Any = typer.main.get_command(app)  # typer's own (vendored) click classes
    args = list(argv)
    while hasattr(command, "get_command"):  # a group: walk down to the command
        name = args.pop(0)
        found = command.get_command(command.make_context("voicectl", [name]), name)
        assert found is not None, f"voicectl has no command {name!r} ({argv})"
        command = found
    command.make_context("voicectl", args)


def _voicectl_runs(
    services: dict[str, dict[str, object]],
) -> list[tuple[str, list[str], list[str]]]:
    runs = []
    for name, service in services.items():
        dockerfile = dockerfile_of(service)
        if dockerfile is None:
            continue
        assert dockerfile.exec_form("ENTRYPOINT") == ["voicectl"]
        command = [str(part) for part in service["command"]]  # type: ignore[attr-defined]
        health = [str(part) for part in service["healthcheck"]["test"]]  # type: ignore[index]
        assert health[:2] == ["CMD", "voicectl"], f"{name}: health check is not voicectl"
        runs.append((name, command, health[2:]))
        runs.append((f"{dockerfile.path.name} CMD", dockerfile.exec_form("CMD"), []))
        runs.append(
            (f"{dockerfile.path.name} HEALTHCHECK", dockerfile.exec_form("HEALTHCHECK")[1:], [])
        )
    return runs


def test_every_command_and_health_check_is_a_real_cli_line(
    project: dict[str, dict[str, object]], cpu_project: dict[str, dict[str, object]]
) -> None:
    runs = _voicectl_runs(project) + _voicectl_runs(cpu_project)
    assert len(runs) == 12
    for name, command, health in runs:
        _parses(command)
        if health:
            _parses(health)
        del name
    with pytest.raises(Exception, match="No such option: --advertize-host"):
        _parses(["worker", "--advertize-host", "tts0"])
    with pytest.raises(AssertionError, match="no command 'helth'"):
        _parses(["helth", "worker"])


def _service_kind(service: dict[str, object]) -> Service:
    return Service(str(service["command"][0]))  # type: ignore[index]


def test_every_variable_is_one_the_service_reads(project: dict[str, dict[str, object]]) -> None:
    known = {kind: {str(row["env"]) for row in resolved_rows(kind, None)} for kind in Service}
    checked = 0
    for name, service in project.items():
        dockerfile = dockerfile_of(service)
        if dockerfile is None:
            continue
        kind = _service_kind(service)
        env = {**dockerfile.env(), **service["environment"]}  # type: ignore[dict-item]
        for key in env:
            if key.startswith("VOICECTL_"):
                assert key in known[kind] | CLIENT_ENV, f"{name}: nothing reads {key}"
                checked += 1
    assert checked >= 10
    assert "VOICECTL_WS_PORT" not in known[Service.WORKER]  # the sets really differ


def _flag_values(command: list[str], *flags: str) -> set[int]:
    return {int(command[i + 1]) for i, part in enumerate(command) if part in flags}


def test_ports_are_the_ones_the_commands_listen_on(project: dict[str, dict[str, object]]) -> None:
    listen_flags = ("--port", "--ws-port", "--metrics-port")
    for name, service in project.items():
        command = [str(part) for part in service["command"]]  # type: ignore[attr-defined]
        listening = _flag_values(command, *listen_flags)
        assert container_ports(service) <= listening, f"{name}: a port nothing listens on"
        health = [str(part) for part in service["healthcheck"]["test"]]  # type: ignore[index]
        probed = {int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", " ".join(health))}
        probed |= _flag_values(health, "-p")
        assert probed, f"{name}: the health check names no port"
        assert probed <= listening, f"{name}: the health check probes another port"
        dockerfile = dockerfile_of(service)
        if dockerfile is not None:
            assert listening <= dockerfile.exposed(), f"{name}: EXPOSE misses a port"


def test_volumes_are_read_by_the_service(project: dict[str, dict[str, object]]) -> None:
    volumes = project["tts0"]["volumes"]
    assert isinstance(volumes, list)
    assert [volume["read_only"] for volume in volumes] == [True]
    for volume in volumes:
        assert Path(volume["source"]).is_dir()
        values = list(project["tts0"]["environment"].values())  # type: ignore[attr-defined]
        values += list(project["tts0"]["command"])  # type: ignore[call-overload]
        assert volume["target"] in values, f"nothing points the worker at {volume['target']}"
        assert (Path(volume["source"]) / "en_US-joe-medium" / "voicepack.yaml").is_file()


def test_the_docs_name_the_files_and_secrets_that_exist() -> None:
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    assert required == set(STACK_ENV)  # env.example, the docs and the smoke name these
    for doc in (REPO / "README.md", REPO / "docs" / "docker.md"):
        text = doc.read_text()
        if doc.name == "README.md":
            text = text[text.index("## Run with Docker") :]
            text = text[: text.index("\n## ", 1)]
        named = set(re.findall(r"\bdocker/[\w.-]+", text))
        assert {"docker/docker-compose.yml", "docker/compose.cpu.yml"} <= named, doc.name
        for path in named - {"docker/.env"}:
            assert (REPO / path).exists(), f"{doc.name} names {path}, which does not exist"
