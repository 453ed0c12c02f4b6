"""Loading peft LoRA adapters onto a transformers CSM model, safely.

- **The codec stays shared.** A LoRA whose ``target_modules`` name attention layers by
  their short names (``q_proj``, ``v_proj``) also matches the Mimi codec's transformers.
  CSM fine-tunes never train the codec (it only encodes audio, under no_grad), so those
  layers would do nothing but turn decoding into a per-adapter affair and let loading
  one adapter rewire modules another stream is decoding with. They are excluded.
- **A failed load leaves nothing behind.** transformers injects an adapter's layers
  before it reads the weights; when the read fails the half-made adapter is deleted, so
  the base model speaks as before and the same name can be loaded again.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from peft import PeftConfig
from transformers.utils import logging as hf_logging

CODEC_MODULES = r"codec_model\..*"

# peft's note on every adapter after the first: several resident adapters are the point.
warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
# And on an adapter that never touched the codec: excluding it then changes nothing.
warnings.filterwarnings("ignore", message=r"You have passed exclude_modules=.*codec_model")


def without_codec(config: Any) -> Any:
    """``config`` with the Mimi codec's modules added to ``exclude_modules``."""
    excluded = getattr(config, "exclude_modules", None)
    if not excluded:
        config.exclude_modules = CODEC_MODULES
    elif isinstance(excluded, str):
        config.exclude_modules = f"(?:{excluded})|{CODEC_MODULES}"
    else:  # names matched as suffixes of module paths, as peft does for a list
        names = "|".join(re.escape(str(name)) for name in excluded)
        config.exclude_modules = f"(?:.*\\.)?(?:{names})|{CODEC_MODULES}"
    return config


def load_lora(model: Any, name: str, path: Path) -> None:
    """Blocking, with nothing else using ``model``: adapter ``name`` from ``path``."""
    config = without_codec(PeftConfig.from_pretrained(str(path)))
    try:
        with quiet_transformers():  # its load report lists other adapters' weights as missing
            model.load_adapter(str(path), adapter_name=name, peft_config=config)
    except Exception:
        if name in (getattr(model, "peft_config", None) or {}):
            model.delete_adapter(name)
        raise


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' warnings off for one call (its log level is process-wide)."""
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
