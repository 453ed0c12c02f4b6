"""Voicepacks: ``voicepacks/<name>/voicepack.yaml`` files that describe loadable models.

A voicepack names its adapter, where its files are (paths relative to the
voicepack folder, or an installed Python package that ships them), sample rate,
languages, license, voices and defaults. It is validated when read; every error
names the file and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from voicectl.audio.frames import SUPPORTED_SAMPLE_RATES
from voicectl.config_errors import allowed, describe
from voicectl.worker.adapters import ADAPTERS, VOICEPACK_ADAPTERS
from voicectl.worker.adapters.base import ModelSpec
from voicectl.worker.adapters.lora import lora_spec
from voicectl.worker.voices import voice_names

FILENAME = "voicepack.yaml"
MODEL_ID = re.compile(r"^[a-z0-9_]+:[A-Za-z0-9._-]+$")


class VoicepackError(ValueError):
    """A voicepack.yaml is missing fields, has bad values, or points at missing files."""


def _fail(path: Path, message: str) -> VoicepackError:
    return VoicepackError(f"{path}: {message}")


Words = Annotated[
    list[str], Field(min_length=1, json_schema_extra=allowed("a non-empty list of strings"))
]


class VoicepackDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    voice: str | None = None


class HubSource(BaseModel):
    """Where ``voicectl models pull`` downloads the voicepack's ``files`` from."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    repo: str = Field(
        pattern=r"^[\w.-]+/[\w.-]+$", json_schema_extra=allowed("'owner/name' of a hub repo")
    )
    revision: str = Field("main", pattern=r"^\S+$")


class VoicepackFields(BaseModel):
    """Every key of a voicepack.yaml, once, strictly typed (YAML gives real types)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: str = Field(
        pattern=MODEL_ID.pattern,
        json_schema_extra=allowed("'adapter:name' (e.g. piper:en_US-joe-medium)"),
    )
    adapter: str
    package: str | None = Field(None, json_schema_extra=allowed("a Python package name"))
    files: dict[str, str] = Field(
        default_factory=dict,
        json_schema_extra=allowed("a mapping of names (model, config) to relative paths"),
    )
    sample_rate: int
    languages: Words = ["und"]
    license: str = Field(
        pattern=r"\S", json_schema_extra=allowed("a license, e.g. MIT or CC0-1.0 (required)")
    )
    voices: Words = ["default"]
    defaults: VoicepackDefaults = VoicepackDefaults()
    params: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    hub: HubSource | None = None
    loras: dict[str, str] = Field(
        default_factory=dict,
        json_schema_extra=allowed("a mapping of LoRA names to peft adapter folders"),
    )

    @field_validator("adapter")
    @classmethod
    def _known_adapter(cls, value: str) -> str:
        if value not in VOICEPACK_ADAPTERS:
            raise ValueError(f"must be one of {VOICEPACK_ADAPTERS}, got {value!r}")
        return value

    @field_validator("sample_rate")
    @classmethod
    def _supported_rate(cls, value: int) -> int:
        if value not in SUPPORTED_SAMPLE_RATES:
            raise ValueError(f"must be one of {list(SUPPORTED_SAMPLE_RATES)}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        cloned = self.adapter in ADAPTERS and ADAPTERS[self.adapter].clones_voices
        if (
            self.defaults.voice is not None
            and self.defaults.voice not in self.voices
            and not cloned
        ):
            raise ValueError(
                f"defaults.voice {self.defaults.voice!r} is not in voices {self.voices}"
            )
        if not self.files and self.package is None and self.adapter != "mock":
            raise ValueError("give 'files' (paths relative to this folder) or 'package'")
        if self.loras and not ADAPTERS[self.adapter].takes_lora:
            takers = sorted(name for name, entry in ADAPTERS.items() if entry.takes_lora)
            raise ValueError(
                f"loras: adapter {self.adapter!r} takes no LoRA adapters (these do: {takers})"
            )
        return self


def read_voicepack(path: Path) -> VoicepackFields:
    """Read and validate one voicepack.yaml, without looking for its files."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise _fail(path, f"cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise _fail(path, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise _fail(path, "the top level must be a mapping")
    try:
        pack = VoicepackFields.model_validate(data)
    except ValidationError as exc:
        raise _fail(path, describe(exc.errors()[0], VoicepackFields)) from None
    return pack


def load_voicepack(path: Path) -> ModelSpec:
    """Read and validate one voicepack.yaml; its files must exist."""
    pack = read_voicepack(path)
    params = dict(pack.params)
    if pack.package is not None:
        params["package"] = pack.package
    files = {name: (path.parent / relative).resolve() for name, relative in pack.files.items()}
    missing = [f"{k}={p}" for k, p in files.items() if not p.is_file()]
    if missing:
        fetch = f" (download them: voicectl models pull {pack.id})" if pack.hub else ""
        raise _fail(path, f"'files' point at missing files: {', '.join(missing)}{fetch}")
    voices = list(pack.voices)
    if ADAPTERS[pack.adapter].clones_voices:
        # Its voices are the ones cloned for it (voicectl voices add), and any it names.
        named = voices if "voices" in pack.model_fields_set else []
        voices = list(dict.fromkeys([*named, *voice_names(path.parent)])) or voices
        if pack.defaults.voice is not None and pack.defaults.voice not in voices:
            raise _fail(
                path,
                f"defaults.voice {pack.defaults.voice!r} is neither in voices nor "
                f"cloned (voicectl voices add {pack.defaults.voice} --model {pack.id})",
            )
    return ModelSpec(
        model_id=pack.id,
        adapter=pack.adapter,
        files=files,
        params=params,
        voices=tuple(voices),
        default_voice=pack.defaults.voice or voices[0],
        sample_rate=pack.sample_rate,
        license=pack.license.strip(),
        languages=tuple(pack.languages),
        source=str(path),
    )


def voicepack_loras(path: Path, base: ModelSpec) -> list[ModelSpec]:
    """The LoRA adapters a voicepack lists under ``loras``, as models on ``base``."""
    specs = []
    for name, relative in read_voicepack(path).loras.items():
        try:
            specs.append(lora_spec(base, name, (path.parent / relative).resolve()))
        except ValueError as exc:
            raise _fail(path, f"loras.{name}: {exc}") from None
    return specs


def load_voicepacks(directory: Path) -> list[ModelSpec]:
    """Every ``*/voicepack.yaml`` under ``directory`` and the LoRA adapters each lists;
    the first bad one raises."""
    if not directory.is_dir():
        raise VoicepackError(f"voicepacks_dir {directory} is not a directory")
    specs = []
    for path in sorted(directory.glob(f"*/{FILENAME}")):
        base = load_voicepack(path)
        specs += [base, *voicepack_loras(path, base)]
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.model_id in seen:
            raise VoicepackError(
                f"{spec.source}: id {spec.model_id!r} is already defined by {seen[spec.model_id]}"
            )
        seen[spec.model_id] = spec.source
    return specs
