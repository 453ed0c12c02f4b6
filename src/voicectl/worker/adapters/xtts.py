"""XTTS-v2 (coqui-tts): streaming speech in cloned voices.

- Weights load from a local folder (the voicepack's ``config``, ``model`` and ``vocab``
  files) through coqui-tts's own ``Xtts.load_checkpoint``.
- A voice is a pair of conditioning latents computed once from a reference recording
  (``voicectl voices add``, ``worker/voices.py``) and loaded with the model: no session
  pays for cloning.
- The base layer segments the text; each segment is one ``inference_stream``, whose
  chunks (``stream_chunk_size`` GPT tokens each, cross-faded by coqui-tts) are taken one
  ``next()`` at a time in the worker's inference pool, with the stream's cancel token
  checked between them. Steps of different streams on one model never overlap, and XTTS
  keeps the prompt of the stream it serves on the model (its GPT places every new token
  after it): each stream's prompt is put back before each of its steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from TTS.tts.configs.xtts_config import XttsConfig
from TTS.tts.models.xtts import Xtts

from voicectl.audio.frames import FloatAudio
from voicectl.worker.adapters.base import (
    CancelToken,
    Capabilities,
    ModelSpec,
    SynthesisCancelled,
    SynthesisOptions,
    run_blocking,
)
from voicectl.worker.adapters.params import adapter_params
from voicectl.worker.adapters.segmented import SegmentedAdapter
from voicectl.worker.adapters.torch_device import model_device, stage
from voicectl.worker.voices import load_voice, voice_names

log = logging.getLogger(__name__)

REQUIRED_FILES = ("config", "model", "vocab")
_END = object()


class XttsParams(BaseModel):
    """An XTTS voicepack's ``params`` (strict: a misspelt key is an error)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    language: str | None = None
    """The language spoken (default: the voicepack's first)."""
    temperature: float = Field(0.75, gt=0, le=2)
    top_k: int = Field(50, ge=1, le=10_000)
    """coqui-tts's streaming generator always samples: ``top_k: 1`` makes it greedy."""
    top_p: float = Field(0.85, gt=0, le=1)
    repetition_penalty: float = Field(10.0, ge=1, le=100)
    stream_chunk_size: int = Field(20, ge=1, le=400)
    """GPT tokens per audio chunk (about 46 ms of audio each)."""


@dataclass
class _Stream:
    """One segment's generator, and the prompt embedding XTTS stored for it."""

    chunks: Iterator[Any]
    prompt: Any = None


@dataclass(frozen=True)
class XttsSettings:
    gpt_cond_latent: Any
    speaker_embedding: Any
    speed: float


class XttsAdapter(SegmentedAdapter[XttsSettings]):
    """XTTS-v2 from a local checkpoint, in the voices cloned for it."""

    name = "xtts"
    capabilities = Capabilities(
        streaming_text_input=True, voice_cloning=True, devices=("cpu", "cuda")
    )

    def __init__(
        self, *, spec: ModelSpec, model: Any, params: XttsParams, device: str, language: str
    ) -> None:
        super().__init__(spec=spec, native_sample_rate=int(model.args.output_sample_rate))
        self._model: Any = model
        self._params = params
        self._device = device
        self.language = language
        self._step = threading.Lock()  # one inference step at a time on this model
        # The cloned voices load here, off the event loop; a model with none cloned yet still
        # loads (to clone one), and a voice cloned later loads on its first use.
        self._voices: dict[str, tuple[Any, Any]] = {}
        for voice in voice_names(Path(spec.source).parent):
            if voice in spec.voices:
                self._voices[voice] = self._latents(voice)

    @classmethod
    def load(cls, spec: ModelSpec) -> Self:
        params = adapter_params(spec, XttsParams)
        missing = [f"files.{key}" for key in REQUIRED_FILES if key not in spec.files]
        if missing:
            raise ValueError(
                f"model {spec.model_id!r}: {', '.join(missing)} missing; name the checkpoint's "
                "config.json (config), model.pth (model) and vocab.json (vocab)"
            )
        language = params.language or spec.languages[0]
        device = model_device(spec.model_id, params.device)
        with stage("xtts.load"):
            config = XttsConfig()
            config.load_json(str(spec.files["config"]))
            if language not in config.languages:
                raise ValueError(
                    f"model {spec.model_id!r}: language {language!r} is not one of the "
                    f"checkpoint's: {', '.join(config.languages)}"
                )
            model = Xtts.init_from_config(config)
            model.load_checkpoint(
                config,
                checkpoint_path=str(spec.files["model"]),
                vocab_path=str(spec.files["vocab"]),
                eval=True,
            )
            model.to(device)
        return cls(spec=spec, model=model, params=params, device=device, language=language)

    def _latents(self, voice: str) -> tuple[Any, Any]:
        folder = Path(self.spec.source).parent  # the voicepack's folder, as `voices` uses
        try:
            stored = load_voice(folder, voice)
        except FileNotFoundError:
            raise ValueError(
                f"model {self.spec.model_id!r}: voice {voice!r} has not been cloned: "
                f"voicectl voices add {voice} --model {self.spec.model_id} --reference REF.wav"
            ) from None
        return (
            torch.as_tensor(stored["gpt_cond_latent"], device=self._device),
            torch.as_tensor(stored["speaker_embedding"], device=self._device),
        )

    # ----------------------------------------------------------------- cloning

    def clone_voice(self, audio: np.ndarray[Any, Any], rate: int) -> dict[str, np.ndarray]:
        """Blocking: the conditioning latents of a (checked) mono reference recording."""
        tensor = torch.as_tensor(np.asarray(audio, dtype=np.float32))[None, :]
        with self._step, torch.inference_mode(), stage("xtts.clone"):
            config = self._model.config
            gpt = self._model.get_gpt_cond_latents(
                tensor, rate, length=config.gpt_cond_len, chunk_length=config.gpt_cond_chunk_len
            )
            speaker = self._model.get_speaker_embedding(tensor, rate)
        return {
            "gpt_cond_latent": gpt.float().cpu().numpy(),
            "speaker_embedding": speaker.float().cpu().numpy(),
        }

    # ----------------------------------------------------------------- synthesis

    def prepare(self, *, voice: str, options: SynthesisOptions) -> XttsSettings:
        if voice not in self._voices:
            self._voices[voice] = self._latents(voice)
        gpt, speaker = self._voices[voice]
        return XttsSettings(gpt_cond_latent=gpt, speaker_embedding=speaker, speed=options.speed)

    async def synthesize_segment(
        self, segment: str, settings: XttsSettings, *, cancel: CancelToken, joined: bool
    ) -> AsyncGenerator[FloatAudio, None]:
        if self._model is None:
            raise RuntimeError(f"model {self.spec.model_id!r} is unloaded")
        p = self._params
        chunks: Iterator[Any] = self._model.inference_stream(
            segment, self.language, settings.gpt_cond_latent, settings.speaker_embedding,
            stream_chunk_size=p.stream_chunk_size, do_sample=True,
            temperature=p.temperature, top_k=p.top_k, top_p=p.top_p,
            repetition_penalty=p.repetition_penalty, speed=settings.speed,
        )  # fmt: skip
        stream = _Stream(chunks)
        try:
            while True:
                if cancel.cancelled:
                    raise SynthesisCancelled
                chunk = await run_blocking(partial(self._next, stream))
                if chunk is _END:
                    return
                yield chunk
        finally:
            # A cancelled step may still be running in the pool: close the generator after
            # it, under the same lock (closing a running generator raises).
            close = partial(self._close, chunks)
            with contextlib.suppress(RuntimeError):  # the loop is shutting down: no more jobs
                closing = asyncio.get_running_loop().run_in_executor(None, close)
                closing.add_done_callback(_log_close_failure)

    def _next(self, stream: _Stream) -> Any:
        """Blocking: the stream's next chunk of audio, or _END."""
        with self._step, torch.inference_mode(), stage("xtts.chunk"):
            gpt = self._model.gpt.gpt_inference
            if stream.prompt is not None:  # another stream's may be there now
                gpt.store_prefix_emb(stream.prompt)
            chunk: Any = next(stream.chunks, _END)
            stream.prompt = gpt.cached_prefix_emb
            if chunk is _END:
                return _END
            return np.asarray(chunk.float().cpu().numpy(), dtype=np.float32)

    def _close(self, chunks: Iterator[Any]) -> None:
        with self._step:
            chunks.close()  # type: ignore[attr-defined]

    def unload(self) -> None:
        with self._step:
            self._model = None
            self._voices.clear()
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def _log_close_failure(job: asyncio.Future[None]) -> None:
    if not job.cancelled() and job.exception() is not None:
        log.warning("closing an XTTS stream failed: %s", job.exception())
