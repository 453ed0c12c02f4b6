"""TTS adapters. Each backend is imported lazily; a missing extra gives an install hint."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from voicectl.worker.adapters.base import TTSAdapter


@dataclass(frozen=True)
class AdapterEntry:
    module: str
    cls: str
    extra: str | None
    requires: tuple[str, ...]


ADAPTERS: dict[str, AdapterEntry] = {
    "mock": AdapterEntry("voicectl.worker.adapters.mock", "MockAdapter", None, ()),
    "piper": AdapterEntry(
        "voicectl.worker.adapters.piper", "PiperAdapter", None, ("piper-tts", "onnxruntime")
    ),
}


class AdapterUnavailable(Exception):
    """The adapter is unknown, or its optional dependencies are not installed."""


def resolve_adapter(name: str) -> type[TTSAdapter]:
    entry = ADAPTERS.get(name)
    if entry is None:
        raise AdapterUnavailable(
            f"unknown adapter {name!r}; known adapters: {', '.join(sorted(ADAPTERS))}"
        )
    try:
        module = importlib.import_module(entry.module)
    except ImportError as exc:
        hint = (
            f"uv sync --extra {entry.extra} (with pip: pip install '.[{entry.extra}]')"
            if entry.extra
            else "reinstall voicectl"
        )
        raise AdapterUnavailable(
            f"adapter {name!r} needs {', '.join(entry.requires) or 'extra packages'} "
            f"({exc.name or exc} is missing): {hint}"
        ) from exc
    adapter: type[TTSAdapter] = getattr(module, entry.cls)
    return adapter
