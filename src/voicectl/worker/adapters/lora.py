"""LoRA adapters as models of their own: ``<base model id>+lora:<name>``.

A LoRA adapter is a small set of weights applied on a resident base model. The model
manager loads, counts, refcounts, evicts and lists each one like a model, while the
base loads once: a resident LoRA holds a reference on its base, so the base cannot be
evicted under it, and loading, switching or dropping a LoRA never reloads the base.
A session picks one by its model id; the base model id speaks with every adapter off.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from pathlib import Path
from typing import Protocol, Self, runtime_checkable

from voicectl.worker.adapters.base import (
    Audio,
    CancelToken,
    Capabilities,
    ModelSpec,
    SynthesisOptions,
    TTSAdapter,
)

SEPARATOR = "+lora:"
LORA_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
ADAPTER_CONFIG = "adapter_config.json"


@runtime_checkable
class LoraHost(Protocol):
    """A model that takes LoRA adapters (its adapter declares ``capabilities.lora``)."""

    def add_lora(self, name: str, path: Path) -> None:
        """Blocking: load the adapter in ``path`` onto the resident model."""

    def remove_lora(self, name: str) -> None:
        """Blocking: drop it; the base stays loaded."""

    def lora_level(self, name: str) -> float | None:
        """The RMS level of speech with adapter ``name`` (None: level each chunk)."""

    def stream_lora(
        self,
        name: str,
        text: AsyncIterator[str],
        *,
        voice: str,
        options: SynthesisOptions,
        cancel: CancelToken,
    ) -> AsyncGenerator[Audio, None]:
        """``stream`` with adapter ``name`` on."""


def lora_id(base_id: str, name: str) -> str:
    return f"{base_id}{SEPARATOR}{name}"


def lora_spec(base: ModelSpec, name: str, path: Path) -> ModelSpec:
    """The catalog entry of LoRA ``name`` (a peft adapter folder) on model ``base``."""
    if not LORA_NAME.fullmatch(name):
        raise ValueError(
            f"LoRA name {name!r} ({path}) is invalid: use 1..64 letters, digits and . _ -"
        )
    if not (path / ADAPTER_CONFIG).is_file():
        raise ValueError(f"LoRA {name!r}: {path} holds no {ADAPTER_CONFIG} (a peft adapter)")
    return ModelSpec(
        model_id=lora_id(base.model_id, name),
        adapter="lora",
        params={"base": base.model_id, "name": name, "path": str(path)},
        voices=base.voices,
        default_voice=base.default_voice,
        sample_rate=base.sample_rate,
        license=f"{base.license} (base model); the adapter's own: see {path}",
        languages=base.languages,
        source=str(path),
    )


def base_of(spec: ModelSpec) -> str | None:
    """The base model id a LoRA spec sits on; None for an ordinary model."""
    base = spec.params.get("base") if spec.adapter == "lora" else None
    return str(base) if base is not None else None


def find_loras(directory: Path) -> list[tuple[str, Path]]:
    """(name, folder) of each peft adapter in ``directory``: the folder itself when it
    holds an adapter_config.json, else each subfolder that does (named by the folder)."""
    if not directory.is_dir():
        raise ValueError(f"lora_path {directory} is not a directory")
    if (directory / ADAPTER_CONFIG).is_file():
        return [(directory.name, directory)]
    found = [(p.name, p) for p in sorted(directory.iterdir()) if (p / ADAPTER_CONFIG).is_file()]
    if not found:
        raise ValueError(
            f"lora_path {directory} holds no peft adapter (a folder with {ADAPTER_CONFIG})"
        )
    return found


def attach_lora_path(
    directory: Path, specs: Iterable[ModelSpec], takes_lora: set[str]
) -> list[ModelSpec]:
    """LoRA specs for ``--lora-path``: onto the one model whose adapter takes LoRA."""
    specs = list(specs)
    bases = [s for s in specs if s.adapter in takes_lora]
    if len(bases) != 1:
        names = ", ".join(s.model_id for s in bases) or "none"
        raise ValueError(
            f"lora_path {directory}: it needs exactly one model that takes LoRA adapters, "
            f"found {names}; with several, list each model's adapters under 'loras' in its "
            "voicepack.yaml"
        )
    known = {s.model_id: s.source for s in specs}
    found = [lora_spec(bases[0], name, path) for name, path in find_loras(directory)]
    for spec in found:
        if spec.model_id in known:
            defined = known[spec.model_id]
            raise ValueError(f"lora_path {directory}: {spec.model_id} is already in {defined}")
    return found


class LoraAdapter(TTSAdapter):
    """One LoRA adapter on a resident base model; the model manager attaches it."""

    name = "lora"
    capabilities = Capabilities(streaming_text_input=True, lora=True)

    def __init__(self, *, spec: ModelSpec, base: TTSAdapter, lora_name: str) -> None:
        super().__init__(spec=spec, native_sample_rate=base.native_sample_rate)
        self.base = base
        self.lora_name = lora_name

    @classmethod
    def load(cls, spec: ModelSpec) -> Self:
        raise TypeError(
            f"{spec.model_id!r} is a LoRA adapter: it loads onto its base model "
            "(ModelManager.load does that), not on its own"
        )

    @classmethod
    def attach(cls, base: TTSAdapter, spec: ModelSpec) -> Self:
        """Blocking: load the adapter's weights onto ``base``."""
        if not isinstance(base, LoraHost):
            raise ValueError(
                f"{spec.params.get('base')!r} ({base.name}) does not take LoRA adapters"
            )
        name = str(spec.params["name"])
        base.add_lora(name, Path(str(spec.params["path"])))
        adapter = cls(spec=spec, base=base, lora_name=name)
        adapter.level_dbfs = base.lora_level(name)
        return adapter

    def stream(
        self,
        text: AsyncIterator[str],
        *,
        voice: str,
        options: SynthesisOptions,
        cancel: CancelToken,
    ) -> AsyncGenerator[Audio, None]:
        assert isinstance(self.base, LoraHost)
        return self.base.stream_lora(
            self.lora_name, text, voice=voice, options=options, cancel=cancel
        )

    def unload(self) -> None:
        assert isinstance(self.base, LoraHost)
        self.base.remove_lora(self.lora_name)
