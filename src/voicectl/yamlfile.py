"""Reading the YAML files people write (configs), with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import yaml


def read_mapping(path: Path, error: type[ValueError]) -> dict[str, object]:
    """The top-level mapping of ``path``; a bad file raises ``error`` naming it."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise error(f"cannot read config {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: the top level must be a mapping of keys to values")
    return {str(k): v for k, v in data.items()}
