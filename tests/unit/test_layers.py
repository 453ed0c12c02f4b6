"""Layers point one way (docs/architecture.md, "Layers"): every import in src/voicectl,
function-level ones included, is checked against the packages each layer may use."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "voicectl"

# What each package may import besides itself and the shared top-level modules
# (tokens, livekit_tokens, config_layers, config_errors, yamlfile, speakable). Reading down the list
# is reading down the layers; the worker is a separate stack beside the orchestrator.
ALLOWED: dict[str, set[str]] = {
    "audio": set(),
    "observability": set(),
    "rpc": set(),
    "asr": {"audio"},
    "registry": {"rpc"},
    "worker": {"audio", "observability", "registry", "rpc"},
    "orchestrator": {"asr", "audio", "observability", "registry", "rpc"},
    "talk": {"audio", "orchestrator", "rpc"},
    "bench": {"asr", "audio", "orchestrator", "registry", "rpc", "talk", "worker", "app"},
    "profiling": {"audio", "observability", "rpc", "worker"},
    "app": {"observability", "orchestrator", "registry", "rpc", "worker"},
    "cli": {"*"},
    "doctor": {"*"},
    "__main__": {"cli"},
}
SHARED = {
    "tokens",
    "livekit_tokens",
    "config_layers",
    "config_errors",
    "yamlfile",
    "speakable",
    "session_tokens",
    "web_tls",
    "__init__",
}
# Edges that break the rule today, each with why; the test fails when one is gone, so
# this list only shrinks.
KNOWN: dict[tuple[str, str], str] = {}


def layer(path: Path) -> str:
    relative = path.relative_to(SRC)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imports(path: Path) -> Iterator[tuple[str, int]]:
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "voicectl" and len(parts) > 1:
                yield parts[1], node.lineno


def edges() -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        if "rpc/v1" in path.as_posix():
            continue  # generated stubs
        source = layer(path)
        for target, line in imports(path):
            if target != source and target not in SHARED:
                where = f"{path.relative_to(SRC)}:{line}"
                found.setdefault((source, target), []).append(where)
    return found


EDGES = edges()


def test_every_package_has_a_rule() -> None:
    assert {source for source, _ in EDGES} <= set(ALLOWED)


@pytest.mark.parametrize("edge", sorted(EDGES), ids=lambda edge: f"{edge[0]}->{edge[1]}")
def test_imports_point_down(edge: tuple[str, str]) -> None:
    source, target = edge
    allowed = ALLOWED[source]
    if "*" in allowed or target in allowed or edge in KNOWN:
        return
    raise AssertionError(f"{source} may not import {target}: {EDGES[edge]}")


def test_the_rules_hold_for_what_they_promise() -> None:
    assert ("orchestrator", "worker") not in EDGES  # the composition root injects it
    assert ("rpc", "registry") not in EDGES
    assert ("talk", "bench") not in EDGES
    assert ("talk", "worker") not in EDGES  # the Piper user voice uses piper-tts itself
    for edge, why in KNOWN.items():
        assert edge in EDGES, f"{edge} no longer happens: remove it from KNOWN ({why})"


def test_only_the_composition_root_opens_the_registry() -> None:
    """The orchestrator is handed its backend (voicectl.app): it never opens Redis."""
    opened = []
    for path in sorted((SRC / "orchestrator").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {alias.name for alias in node.names}
                if node.module == "voicectl.registry.redis_backend" or (
                    node.module == "voicectl.registry" and "open_registry" in names
                ):
                    opened.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert opened == []


def test_the_layer_rules_have_no_cycle() -> None:
    """Packages that may import each other, directly or through others, would be one layer."""
    graph = {source: {t for t in targets if t in ALLOWED} for source, targets in ALLOWED.items()}
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"import cycle: {' -> '.join((*path, node))}"
        if node in done:
            return
        for target in graph[node]:
            visit(target, (*path, node))
        done.add(node)

    for package in graph:
        visit(package, ())
