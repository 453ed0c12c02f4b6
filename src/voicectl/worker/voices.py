"""Cloned voices: a reference recording checked, and its latents kept with the voicepack.

A model that clones voices (XTTS-v2) turns 6-10 s of one person speaking into conditioning
latents once; every later session in that voice reuses them. They are stored as
``<voicepack folder>/voices/<name>.npz`` (plain arrays, no pickle), and the voicepack
lists them as its voices. ``check_reference`` is pure: it names what is wrong with a
recording and what to do instead.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

VOICES_DIR = "voices"
VOICE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
FRAME_S = 0.02


class ReferenceError(ValueError):
    """A reference recording that would make a poor voice; the message says why."""


@dataclass(frozen=True, kw_only=True)
class ReferenceLimits:
    min_seconds: float = 6.0
    max_seconds: float = 10.0
    min_rate: int = 16_000
    max_clipped: float = 0.001  # share of samples at full scale
    speech_dbfs: float = -35.0  # a 20 ms frame louder than this is speech
    min_speech: float = 0.5  # share of frames that must be speech


def check_reference(
    audio: npt.NDArray[np.float32], rate: int, *, name: str, limits: ReferenceLimits | None = None
) -> None:
    """Raise ReferenceError naming the problem with ``audio`` (mono, -1..1) as a reference."""
    limits = limits or ReferenceLimits()
    seconds = len(audio) / rate if rate else 0.0
    if rate < limits.min_rate:
        raise ReferenceError(
            f"{name} is sampled at {rate} Hz; record at {limits.min_rate} Hz or more"
        )
    if not limits.min_seconds <= seconds <= limits.max_seconds:
        raise ReferenceError(
            f"{name} is {seconds:.1f} s long; use {limits.min_seconds:g}-{limits.max_seconds:g} s "
            "of one person speaking (trim it, e.g. with sox trim)"
        )
    clipped = float(np.mean(np.abs(audio) >= 0.999))
    if clipped > limits.max_clipped:
        raise ReferenceError(
            f"{name} clips: {clipped:.1%} of its samples are at full scale; record it quieter"
        )
    frame = max(1, int(rate * FRAME_S))
    frames = audio[: len(audio) // frame * frame].reshape(-1, frame).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    with np.errstate(divide="ignore"):
        levels = 20 * np.log10(rms)
    speech = float(np.mean(levels > limits.speech_dbfs)) if len(levels) else 0.0
    if speech < limits.min_speech:
        loudest = float(np.max(levels)) if len(levels) else -math.inf
        raise ReferenceError(
            f"{name} is mostly silence: {speech:.0%} of it is speech (louder than "
            f"{limits.speech_dbfs:g} dBFS; its loudest 20 ms is {loudest:.0f} dBFS); use a "
            "recording of someone talking, with the pauses trimmed"
        )


def check_name(name: str) -> str:
    if not VOICE_NAME.fullmatch(name):
        raise ValueError(f"voice name {name!r} is invalid: use 1..64 letters, digits and . _ -")
    return name


def voices_dir(voicepack_folder: Path) -> Path:
    return voicepack_folder / VOICES_DIR


def voice_names(voicepack_folder: Path) -> list[str]:
    """The voices stored with a voicepack, sorted."""
    folder = voices_dir(voicepack_folder)
    return sorted(p.stem for p in folder.glob("*.npz")) if folder.is_dir() else []


def save_voice(voicepack_folder: Path, name: str, latents: dict[str, np.ndarray]) -> Path:
    """Write ``<folder>/voices/<name>.npz`` atomically (a reader never sees half a file)."""
    folder = voices_dir(voicepack_folder)
    folder.mkdir(exist_ok=True)
    path = folder / f"{check_name(name)}.npz"
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".npz.part")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, allow_pickle=False, **latents)
            file.flush()
            os.fsync(file.fileno())  # on disk before it takes the name
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from a worker's user
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_voice(voicepack_folder: Path, name: str) -> dict[str, np.ndarray]:
    path = voices_dir(voicepack_folder) / f"{check_name(name)}.npz"
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
