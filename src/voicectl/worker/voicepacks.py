"""Voicepacks: ``voicepacks/<name>/voicepack.yaml`` files that describe loadable models.

A voicepack names its adapter, where its files are (paths relative to the
voicepack folder, or an installed Python package that ships them), sample rate,
languages, license, voices and defaults. It is validated when read; every error
names the file and the field.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from voicectl.audio.frames import SUPPORTED_SAMPLE_RATES
from voicectl.worker.adapters import ADAPTERS
from voicectl.worker.adapters.base import ModelSpec

FILENAME = "voicepack.yaml"
MODEL_ID = re.compile(r"^[a-z0-9_]+:[A-Za-z0-9._-]+$")
KNOWN_KEYS = {
    "id", "adapter", "package", "files", "sample_rate", "languages", "license", "voices",
    "defaults", "params", "description",
}  # fmt: skip


class VoicepackError(ValueError):
    """A voicepack.yaml is missing fields, has bad values, or points at missing files."""


def _fail(path: Path, message: str) -> VoicepackError:
    return VoicepackError(f"{path}: {message}")


def _string_list(path: Path, data: dict[str, object], key: str, default: list[str]) -> list[str]:
    value = data.get(key, default)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(path, f"'{key}' must be a non-empty list of strings, got {value!r}")
    return value


def load_voicepack(path: Path) -> ModelSpec:
    """Read and validate one voicepack.yaml."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise _fail(path, f"cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise _fail(path, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise _fail(path, "the top level must be a mapping")
    unknown = set(data) - KNOWN_KEYS
    if unknown:
        raise _fail(path, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(KNOWN_KEYS)}")
    model_id = data.get("id")
    if not isinstance(model_id, str) or not MODEL_ID.match(model_id):
        raise _fail(path, f"'id' must look like 'adapter:name' (e.g. piper:en_US-joe-medium), "
                    f"got {model_id!r}")  # fmt: skip
    adapter = data.get("adapter")
    if adapter not in ADAPTERS:
        raise _fail(path, f"'adapter' must be one of {sorted(ADAPTERS)}, got {adapter!r}")
    rate = data.get("sample_rate")
    if rate not in SUPPORTED_SAMPLE_RATES:
        raise _fail(path, f"'sample_rate' must be one of {list(SUPPORTED_SAMPLE_RATES)}, "
                    f"got {rate!r}")  # fmt: skip
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise _fail(path, f"'params' must be a mapping, got {params!r}")
    params = dict(params)
    package = data.get("package")
    if package is not None:
        if not isinstance(package, str):
            raise _fail(path, f"'package' must be a Python package name, got {package!r}")
        params["package"] = package
    files_raw = data.get("files", {})
    if not isinstance(files_raw, dict) or not all(isinstance(v, str) for v in files_raw.values()):
        raise _fail(path, "'files' must map names (e.g. model, config) to relative paths")
    files = {str(k): (path.parent / v).resolve() for k, v in files_raw.items()}
    missing = [f"{k}={p}" for k, p in files.items() if not p.is_file()]
    if missing:
        raise _fail(path, f"'files' point at missing files: {', '.join(missing)}")
    if not files and package is None and adapter != "mock":
        raise _fail(path, "give 'files' (paths relative to this folder) or 'package'")
    voices = _string_list(path, data, "voices", ["default"])
    languages = _string_list(path, data, "languages", ["und"])
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise _fail(path, f"'defaults' must be a mapping, got {defaults!r}")
    default_voice = defaults.get("voice", voices[0])
    if default_voice not in voices:
        raise _fail(path, f"'defaults.voice' {default_voice!r} is not in voices {voices}")
    license_text = data.get("license")
    if not isinstance(license_text, str) or not license_text.strip():
        raise _fail(path, "'license' is required (e.g. MIT, CC0-1.0)")
    return ModelSpec(
        model_id=model_id,
        adapter=str(adapter),
        files=files,
        params=params,
        voices=tuple(voices),
        default_voice=str(default_voice),
        sample_rate=int(rate),
        license=license_text.strip(),
        languages=tuple(languages),
        source=str(path),
    )


def load_voicepacks(directory: Path) -> list[ModelSpec]:
    """Every ``*/voicepack.yaml`` under ``directory``; the first bad one raises."""
    if not directory.is_dir():
        raise VoicepackError(f"voicepacks_dir {directory} is not a directory")
    specs = [load_voicepack(p) for p in sorted(directory.glob(f"*/{FILENAME}"))]
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.model_id in seen:
            raise VoicepackError(
                f"{spec.source}: id {spec.model_id!r} is already defined by {seen[spec.model_id]}"
            )
        seen[spec.model_id] = spec.source
    return specs
