"""TTS adapters. Each backend is imported lazily; a missing extra gives an install hint."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass

from voicectl.worker.adapters.base import Capabilities, ModelSpec, TTSAdapter


@dataclass(frozen=True)
class AdapterEntry:
    module: str
    cls: str
    extra: str | None
    requires: tuple[str, ...]
    takes_lora: bool = False
    """LoRA adapters load onto its models (known without importing the module)."""
    clones_voices: bool = False
    """Its voices are cloned: the voicepack lists those stored in its voices/ folder."""


ADAPTERS: dict[str, AdapterEntry] = {
    "mock": AdapterEntry("voicectl.worker.adapters.mock", "MockAdapter", None, ()),
    "piper": AdapterEntry(
        "voicectl.worker.adapters.piper", "PiperAdapter", None, ("piper-tts", "onnxruntime")
    ),
    "csm": AdapterEntry(
        "voicectl.worker.adapters.csm",
        "CsmAdapter",
        "csm",
        ("torch", "transformers", "peft"),
        takes_lora=True,
    ),
    "xtts": AdapterEntry(
        "voicectl.worker.adapters.xtts",
        "XttsAdapter",
        "xtts",
        ("torch", "torchaudio", "coqui-tts"),
        clones_voices=True,
    ),
    # A LoRA adapter on a resident model (adapters/lora.py); made from a voicepack's
    # 'loras' or --lora-path, never named as a voicepack's adapter.
    "lora": AdapterEntry("voicectl.worker.adapters.lora", "LoraAdapter", None, ()),
}
VOICEPACK_ADAPTERS = sorted(name for name in ADAPTERS if name != "lora")


def takes_lora() -> set[str]:
    return {name for name, entry in ADAPTERS.items() if entry.takes_lora}


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


def capabilities_of(spec: ModelSpec, catalog: Mapping[str, ModelSpec]) -> Capabilities:
    """What a model can do: a LoRA adapter's are its base model's."""
    base = spec.params.get("base") if spec.adapter == "lora" else None
    if isinstance(base, str) and base in catalog:
        spec = catalog[base]
    return resolve_adapter(spec.adapter).capabilities
