"""The adapter contract: a model loads, streams audio for streaming text, unloads.

Adapters stay small. The worker's base layer (session + framer) owns framing,
resampling, loudness, pacing of look-ahead, metrics and cancellation; an adapter
only turns text into float/int16 arrays at its native rate. Blocking inference
must run off the event loop (``run_blocking``) and poll ``cancel`` between steps.
"""

from __future__ import annotations

import abc
import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self, TypeVar

import numpy as np
import numpy.typing as npt

from voicectl.worker.scheduler import inference_deadline, shared_executor

T = TypeVar("T")
Audio = npt.NDArray[np.generic]  # float32 in -1..1 or int16, at the model's native rate


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What an adapter can do; reported through ListModels."""

    streaming_text_input: bool
    """Accepts text as it streams (every adapter does: the base layer segments it)."""
    native_text_streaming: bool = False
    """The model itself consumes text as it arrives (else ``SegmentedAdapter`` cuts it
    into phrases and the model speaks one phrase at a time)."""
    voice_cloning: bool = False
    lora: bool = False
    speed_control: bool = True
    """Honours ``SynthesisOptions.speed`` (else the worker refuses a speed other than 1)."""
    devices: tuple[str, ...] = ("cpu",)


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """How to load one model: which adapter, which files, and adapter parameters.

    Model config (this) is separate from per-call config (``SynthesisOptions``).
    """

    model_id: str
    adapter: str
    files: Mapping[str, Path] = field(default_factory=dict)
    params: Mapping[str, object] = field(default_factory=dict)
    voices: tuple[str, ...] = ("default",)
    default_voice: str = "default"
    sample_rate: int = 0
    license: str = ""
    languages: tuple[str, ...] = ()
    source: str = "builtin"


@dataclass(frozen=True, kw_only=True)
class SynthesisOptions:
    """Per-call options, validated by the worker before they reach an adapter."""

    speed: float = 1.0


class CancelToken:
    """Thread-safe cancellation flag that blocking model loops poll between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True if cancelled meanwhile."""
        return self._event.wait(seconds) if seconds > 0 else self._event.is_set()


class SynthesisCancelled(Exception):
    """Raised inside adapter code when the stream was stopped or the client went away."""


async def run_blocking(func: Callable[[], T]) -> T:
    """Run blocking inference off the event loop.

    Inside a stream (the session sets ``inference_deadline``) jobs are scheduled
    earliest-deadline-first across streams; elsewhere (loads, warmup) they use the
    default thread pool.
    """
    deadline = inference_deadline.get()
    if deadline is None:
        return await asyncio.get_running_loop().run_in_executor(None, func)
    return await asyncio.wrap_future(shared_executor().submit(func, deadline))


class TTSAdapter(abc.ABC):
    """Base class of every TTS backend (mock, Piper, CosyVoice 2, XTTS-v2, CSM)."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(self, *, spec: ModelSpec, native_sample_rate: int) -> None:
        self.spec = spec
        self.native_sample_rate = native_sample_rate
        self.level_dbfs: float | None = None
        """The RMS level of this adapter's speech, if steady (measured at load). Set, the
        framer applies one gain per stream; None, it levels each chunk on its own."""

    @classmethod
    @abc.abstractmethod
    def load(cls, spec: ModelSpec) -> Self:
        """Load weights (blocking; the model manager calls it off the event loop)."""

    @abc.abstractmethod
    def stream(
        self,
        text: AsyncIterator[str],
        *,
        voice: str,
        options: SynthesisOptions,
        cancel: CancelToken,
    ) -> AsyncGenerator[Audio, None]:
        """Yield audio chunks at ``native_sample_rate`` as text chunks arrive (an async
        generator, so the base layer can ``aclose`` it when a stream is stopped)."""

    def unload(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Release the model's memory. Called once, off the event loop."""

    @property
    def voices(self) -> tuple[str, ...]:
        return self.spec.voices
