"""Reading docker/ without a Docker engine: Dockerfile instructions, the Compose project as
compose-go resolves it (scripts/compose-check), and a compose service turned into the
local process it would run, so tests can check the wiring where images cannot be built."""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
DOCKERFILES = sorted(DOCKER.glob("Dockerfile.*[!e]"))  # not the .dockerignore files
COMPOSE = DOCKER / "docker-compose.yml"
CPU_OVERRIDE = DOCKER / "compose.cpu.yml"

# The secrets docker/env.example asks for, as a user fills them in.
STACK_ENV = {
    "REDIS_PASSWORD": "redis-pass-5f0c2d1e9b",
    "VOICECTL_REGISTRY_SECRET": "registry-secret-8c1f4e2a7d",
    "VOICECTL_TOKEN": "worker-token-3b9e71c5d2",
    "VOICECTL_ADMIN_TOKEN": "admin-token-6a2d8f0e4c",
    "VOICECTL_ORCHESTRATOR_TOKEN": "client-token-1e7c9b3a5f",
}


@dataclass
class Dockerfile:
    path: Path
    # (instruction, arguments) in order, continuation lines joined, comments dropped
    instructions: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        parsed = cls(path)
        joined = ""
        for line in path.read_text().splitlines():
            if not joined and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.rstrip().endswith("\\"):
                joined += line.rstrip()[:-1] + " "
                continue
            joined += line
            word, _, rest = joined.strip().partition(" ")
            parsed.instructions.append((word.upper(), rest.strip()))
            joined = ""
        return parsed

    def args(self, instruction: str) -> list[str]:
        return [rest for word, rest in self.instructions if word == instruction]

    def copies_from_context(self) -> list[tuple[list[str], str]]:
        """(sources, destination) of every COPY/ADD that reads the build context."""
        copies = []
        for word, rest in self.instructions:
            if word not in ("COPY", "ADD"):
                continue
            parts = shlex.split(rest)
            if any(part.startswith("--from=") for part in parts):
                continue
            paths = [part for part in parts if not part.startswith("--")]
            copies.append((paths[:-1], paths[-1]))
        return copies

    def exec_form(self, instruction: str) -> list[str]:
        """The JSON (exec) form of the last CMD/ENTRYPOINT, or of HEALTHCHECK's CMD."""
        rest = self.args(instruction)[-1]
        if instruction == "HEALTHCHECK":
            rest = rest[rest.index("CMD") + 3 :]
        value = json.loads(rest.strip())
        assert isinstance(value, list), f"{self.path.name}: {instruction} is not exec form"
        return [str(part) for part in value]

    def env(self) -> dict[str, str]:
        """ENV KEY=VALUE pairs (the form these Dockerfiles use)."""
        pairs: dict[str, str] = {}
        for rest in self.args("ENV"):
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                pairs[key] = value
        return pairs

    def exposed(self) -> set[int]:
        return {int(port.split("/")[0]) for rest in self.args("EXPOSE") for port in rest.split()}


def dockerignore_allows(dockerfile: Path, relative: str) -> bool:
    """Whether the build context keeps ``relative`` under the Dockerfile's own ignore file
    (BuildKit's ``<Dockerfile>.dockerignore``): the last matching pattern wins, ``!``
    re-includes, and a pattern that matches a folder covers everything in it."""
    patterns = [
        line.strip()
        for line in Path(f"{dockerfile}.dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    parts = relative.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    kept = True
    for pattern in patterns:
        glob = pattern.removeprefix("!").strip("/")
        if glob.startswith("**/"):  # any folder depth: match each path component
            hit = any(fnmatch(prefix.rsplit("/", 1)[-1], glob[3:]) for prefix in prefixes)
        else:
            hit = any(fnmatch(prefix, glob) for prefix in prefixes)
        if hit:
            kept = pattern.startswith("!")
    return kept


def compose_check_binary(out_dir: Path) -> Path:
    """Build scripts/compose-check (Go; modules from the Go proxy, cached by go)."""
    go = shutil.which("go")
    assert go is not None, "Go is needed to validate docker/*.yml (.ci/run checks for it)"
    binary = out_dir / "compose-check"
    subprocess.run([go, "build", "-o", str(binary), "."],
                   cwd=REPO / "scripts" / "compose-check", check=True, timeout=600)  # fmt: skip
    return binary


def compose_check(
    binary: Path, *files: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/")}
    environment.update(STACK_ENV if env is None else env)
    return subprocess.run([str(binary), *map(str, files)], capture_output=True, text=True,
                          env=environment, timeout=60, check=False)  # fmt: skip


def resolve_project(binary: Path, *files: Path) -> dict[str, object]:
    result = compose_check(binary, *files)
    assert result.returncode == 0, result.stderr
    project = json.loads(result.stdout)
    assert isinstance(project, dict)
    return project


def dockerfile_of(service: dict[str, object]) -> Dockerfile | None:
    build = service.get("build")
    if not isinstance(build, dict):
        return None
    return Dockerfile.read(Path(str(build["context"])) / str(build["dockerfile"]))


def container_ports(service: dict[str, object]) -> set[int]:
    ports = {int(port["target"]) for port in service.get("ports") or []}  # type: ignore[attr-defined]
    ports |= {int(port) for port in service.get("expose") or []}  # type: ignore[attr-defined]
    return ports


@dataclass
class LocalService:
    """A compose service as a local process: its argv and environment, with the other
    services' host names and the container ports mapped onto loopback."""

    name: str
    argv: list[str]
    env: dict[str, str]
    healthcheck: list[str]


def localize(
    value: str,
    hosts: set[str],
    ports: dict[int, int],
    paths: dict[str, Path],
    *,
    is_host: bool = False,
) -> str:
    """Container addresses and paths -> this machine's: ``redis:6379`` -> ``127.0.0.1:N``;
    a bare name (``tts0``) only where ``is_host`` says the value is a host."""
    for container_path, local in sorted(paths.items(), key=lambda item: -len(item[0])):
        if value == container_path or value.startswith(container_path + "/"):
            value = str(local) + value[len(container_path) :]
            break
    for port, local_port in ports.items():
        value = re.sub(rf"(?<![\d]){port}(?![\d])", str(local_port), value)
    for host in hosts | {"0.0.0.0"}:
        value = re.sub(rf"(?<=[@/]){re.escape(host)}(?=:)", "127.0.0.1", value)
        value = re.sub(rf"^{re.escape(host)}(?=:\d+$)", "127.0.0.1", value)
        if is_host and value == host:
            value = "127.0.0.1"
    return value


def local_service(
    name: str,
    service: dict[str, object],
    executables: dict[str, list[str]],
    ports: dict[int, int],
    hosts: set[str],
) -> LocalService:
    dockerfile = dockerfile_of(service)
    paths: dict[str, Path] = {}
    image_env: dict[str, str] = {}
    entrypoint: list[str] = list(service.get("entrypoint") or [])  # type: ignore[call-overload]
    if dockerfile is not None:
        for sources, destination in dockerfile.copies_from_context():
            if len(sources) == 1 and (REPO / sources[0]).is_dir():
                paths[destination.rstrip("/")] = REPO / sources[0]
        image_env = {key: value for key, value in dockerfile.env().items()
                     if key.startswith("VOICECTL_")}  # fmt: skip
        entrypoint = entrypoint or dockerfile.exec_form("ENTRYPOINT")
    for volume in service.get("volumes") or []:  # type: ignore[attr-defined]
        paths[str(volume["target"])] = Path(str(volume["source"]))
    command = [str(part) for part in service.get("command") or []]  # type: ignore[attr-defined]
    argv = [*entrypoint, *command]
    argv = [*executables.get(argv[0], [argv[0]]), *argv[1:]]
    env = {**image_env, **{k: str(v) for k, v in (service.get("environment") or {}).items()}}  # type: ignore[attr-defined]
    test = [str(part) for part in service["healthcheck"]["test"]]  # type: ignore[index]
    assert test[0] == "CMD", f"{name}: healthcheck is not exec form"
    health = [*executables.get(test[1], [test[1]]), *test[2:]]

    def local_args(args: list[str]) -> list[str]:
        pairs = itertools.pairwise(args)  # a value after --host/--advertise-host is a host
        return [args[0], *[localize(part, hosts, ports, paths, is_host=before.endswith("-host"))
                           for before, part in pairs]]  # fmt: skip

    return LocalService(
        name=name,
        argv=local_args(argv),
        env={
            key: localize(value, hosts, ports, paths, is_host=key.endswith("_HOST"))
            for key, value in env.items()
        },
        healthcheck=local_args(health),
    )


def start_order(services: dict[str, dict[str, object]]) -> list[str]:
    """Services after everything they depend on (compose's own start order)."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dependency in services[name].get("depends_on") or {}:  # type: ignore[attr-defined]
            visit(str(dependency))
        order.append(name)

    for name in sorted(services):
        visit(name)
    return order
