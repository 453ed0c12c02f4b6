"""Sesame CSM: transformers' ``CsmForConditionalGeneration`` and its Mimi codec, with LoRA.

- CSM speaks a whole utterance per ``generate()``, so the base layer segments the text
  (``SegmentedAdapter``) and each segment is one ``generate()``.
- Frames of audio codes (80 ms each) come out of ``generate`` through a streamer as they
  are sampled and are decoded in growing chunks while generation goes on
  (``csm_stream``): first audio waits for two frames, not for the sentence.
- Generations run on the model's own threads, so a long segment never holds a thread of
  the worker's inference pool that other models' streams need (Mimi decoding runs in
  that pool). Sessions that use the same LoRA selection generate at once; one that wants
  another adapter waits for them (``GenerationGate``), since ``set_adapter`` is model-wide.
- Codes Mimi cannot decode (ids >= its codebook size, which CSM's vocabulary has room
  for) are suppressed in both generation stages: one sampled there would crash the
  decoder mid-stream.
- Weights load only from a local folder (the voicepack's ``files``; ``voicectl models
  pull`` fetches them). LoRA adapters load onto the resident model (``LoraHost``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal, Self, cast

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from transformers import AutoProcessor, CsmForConditionalGeneration
from transformers.utils import logging as hf_logging

from voicectl.audio.frames import FloatAudio
from voicectl.audio.loudness import rms_dbfs
from voicectl.worker.adapters.base import (
    Audio,
    CancelToken,
    Capabilities,
    ModelSpec,
    SynthesisCancelled,
    SynthesisOptions,
    run_blocking,
)
from voicectl.worker.adapters.csm_lora import load_lora
from voicectl.worker.adapters.csm_stream import END, FrameBridge, chunk_frames, is_end_frame
from voicectl.worker.adapters.generation_gate import GenerationGate
from voicectl.worker.adapters.params import adapter_params
from voicectl.worker.adapters.segmented import SegmentedAdapter
from voicectl.worker.adapters.torch_device import model_device, stage
from voicectl.worker.segment import SegmenterConfig

log = logging.getLogger(__name__)

LEVEL_REFERENCE = "Hello there, how can I help you today?"
# Characters of speech a second, on the slow side (conversational English: about 14).
CHARS_PER_SECOND = 12
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class CsmParams(BaseModel):
    """A CSM voicepack's ``params`` (strict: a misspelt key is an error, not a default)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    """auto: the GPU when torch sees one, else the CPU."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """auto: bfloat16 on a GPU, float32 on the CPU."""
    do_sample: bool = True
    temperature: float = Field(0.9, gt=0, le=2)
    top_k: int = Field(50, ge=1, le=100_000)
    max_segment_seconds: float = Field(20.0, gt=0, le=120)
    """Longest audio one segment may become (generation stops there)."""
    parallel: int = Field(4, ge=1, le=64)
    """Generations at once on this model (sessions with the same LoRA selection)."""
    first_chunk_frames: int = Field(2, ge=1, le=64)
    max_chunk_frames: int = Field(16, ge=1, le=256)
    level_dbfs: float | None = Field(None, ge=-80, le=0)
    """The voice's RMS level; measured at load from one sentence when not given."""

    @model_validator(mode="after")
    def _chunks_grow(self) -> Self:
        if self.first_chunk_frames > self.max_chunk_frames:
            raise ValueError(
                f"first_chunk_frames ({self.first_chunk_frames}) must be <= max_chunk_frames "
                f"({self.max_chunk_frames})"
            )
        return self


@dataclass(frozen=True)
class CsmSettings:
    speaker: int
    lora: str | None = None  # None: the base model, with every LoRA adapter off


def model_folder(spec: ModelSpec) -> Path:
    """The folder holding the model's files (config.json, weights, tokenizer, processor)."""
    config = spec.files.get("config")
    if config is None:
        raise ValueError(
            f"model {spec.model_id!r}: files.config is missing; name the folder's config.json "
            "(and the weights, tokenizer and processor files beside it) under 'files'"
        )
    folder = config.parent
    strays = [f"{k}={p}" for k, p in spec.files.items() if p.parent != folder]
    if strays:
        raise ValueError(
            f"model {spec.model_id!r}: every file must sit beside files.config in {folder}; "
            f"not: {', '.join(strays)}"
        )
    return folder


class CsmAdapter(SegmentedAdapter[CsmSettings]):
    """Sesame CSM 1B (or any checkpoint of the same architecture) from a local folder."""

    name = "csm"
    capabilities = Capabilities(
        streaming_text_input=True, lora=True, speed_control=False, devices=("cpu", "cuda")
    )
    # Whole sentences after a short first phrase: CSM's prosody needs the sentence.
    segmenter_config = SegmenterConfig(first_phrase_max_words=6, max_segment_chars=400)

    def __init__(
        self, *, spec: ModelSpec, model: Any, processor: Any, params: CsmParams, device: str
    ) -> None:
        super().__init__(
            spec=spec, native_sample_rate=int(processor.feature_extractor.sampling_rate)
        )
        self._model: Any = model
        self._processor: Any = processor
        self._params = params
        self._device = device
        config = model.config
        codec = config.codec_config
        self._eos = int(config.codebook_eos_token_id)
        undecodable = list(range(int(codec.codebook_size), int(config.vocab_size)))
        sampling: dict[str, object] = {"do_sample": params.do_sample}
        if params.do_sample:
            sampling |= {"temperature": params.temperature, "top_k": params.top_k}
        self._max_frames = max(1, math.ceil(params.max_segment_seconds * codec.frame_rate))
        self._generate_kwargs: dict[str, object] = {
            "max_new_tokens": self._max_frames,
            "suppress_tokens": undecodable,
            **sampling,
            **{f"depth_decoder_{k}": v for k, v in sampling.items()},
            "depth_decoder_suppress_tokens": undecodable,
        }
        self._generator = ThreadPoolExecutor(
            max_workers=params.parallel, thread_name_prefix="csm-generate"
        )
        self._gate = GenerationGate()
        self._selecting = threading.Lock()
        self._loras: set[str] = set()
        self._lora_levels: dict[str, float | None] = {}
        self._active: str | None = None  # the LoRA generate uses now (None: the base)...
        self._active_known = True  # ...unless a load or delete left it unknown
        self.level_dbfs = params.level_dbfs
        # A segment must fit in max_segment_seconds, or its end would never be spoken.
        longest = int(params.max_segment_seconds * CHARS_PER_SECOND)
        self.segmenter_config = replace(
            CsmAdapter.segmenter_config, max_segment_chars=max(20, min(400, longest))
        )

    @classmethod
    def load(cls, spec: ModelSpec) -> Self:
        params = adapter_params(spec, CsmParams)
        folder = model_folder(spec)
        device = model_device(spec.model_id, params.device)
        dtype = params.dtype if params.dtype != "auto" else "float32"
        if params.dtype == "auto" and device != "cpu":
            dtype = "bfloat16"
        hf_logging.disable_progress_bar()  # a worker's log is no terminal
        with stage("csm.load"):
            model = CsmForConditionalGeneration.from_pretrained(folder, dtype=DTYPES[dtype])
            model = model.to(device).eval()
            processor = AutoProcessor.from_pretrained(folder)
        adapter = cls(spec=spec, model=model, processor=processor, params=params, device=device)
        if adapter.level_dbfs is None:
            adapter.level_dbfs = adapter.measure_level()
        return adapter

    # ----------------------------------------------------------------- synthesis

    def speaker_id(self, voice: str) -> int:
        """A voice's CSM speaker id: its place in the voicepack's ``voices`` list."""
        return self.spec.voices.index(voice) if voice in self.spec.voices else 0

    def prepare(self, *, voice: str, options: SynthesisOptions) -> CsmSettings:
        return CsmSettings(speaker=self.speaker_id(voice))

    async def synthesize_segment(
        self, segment: str, settings: CsmSettings, *, cancel: CancelToken, joined: bool
    ) -> AsyncGenerator[FloatAudio, None]:
        """Audio for one segment, chunk by chunk while ``generate`` samples its frames."""
        if self._model is None:
            raise RuntimeError(f"model {self.spec.model_id!r} is unloaded")
        loop = asyncio.get_running_loop()
        frames: asyncio.Queue[object] = asyncio.Queue()
        bridge = FrameBridge(loop=loop, queue=frames, cancel=cancel)
        inputs = self._inputs(segment, settings.speaker)
        job = self._generator.submit(self._generate, inputs, settings.lora, bridge)
        codes: list[np.ndarray[Any, Any]] = []
        decoded = emitted = 0
        ended = spoken = False  # ended: generate returned; spoken: the end frame came
        try:
            while not (ended or spoken):
                wanted = chunk_frames(
                    decoded,
                    first=self._params.first_chunk_frames,
                    most=self._params.max_chunk_frames,
                )
                while len(codes) - decoded < wanted:
                    item = await frames.get()
                    ended = item is END
                    if ended:
                        break
                    frame = cast(np.ndarray[Any, Any], item)  # FrameBridge puts arrays
                    spoken = is_end_frame(frame, self._eos)
                    if spoken:
                        break
                    codes.append(frame)
                if len(codes) > decoded:
                    audio = await run_blocking(partial(self.decode, np.stack(codes)))
                    decoded = len(codes)
                    yield audio[emitted:]
                    emitted = len(audio)
            while not ended:  # generate returns right after the end frame
                ended = await frames.get() is END
            await asyncio.wrap_future(job)  # raises what generate raised
            if not spoken and len(codes) >= self._max_frames:
                log.warning("%s: a segment reached max_segment_seconds (%g s) before its end "
                            "and was cut: %r", self.spec.model_id,
                            self._params.max_segment_seconds, segment[:80])  # fmt: skip
        finally:
            bridge.closed.set()  # generate raises at its next frame if still running
            job.add_done_callback(_log_failure)  # at once if it is already done

    def decode(self, codes: np.ndarray[Any, Any]) -> FloatAudio:
        """Blocking: Mimi's audio for frames of codes (frames x codebooks)."""
        with torch.inference_mode(), stage("csm.decode"):
            tensor = torch.as_tensor(codes, device=self._device).transpose(0, 1).unsqueeze(0)
            audio = self._model.codec_model.decode(tensor).audio_values[0, 0]
            return np.asarray(audio.float().cpu().numpy(), dtype=np.float32)

    def _inputs(self, text: str, speaker: int) -> Any:
        """The prompt through the checkpoint's own chat template (a ``BatchFeature``)."""
        conversation = [{"role": str(speaker), "content": [{"type": "text", "text": text}]}]
        return self._processor.apply_chat_template(conversation, tokenize=True, return_dict=True)

    def _generate(self, inputs: Any, lora: str | None, bridge: FrameBridge) -> None:
        """On a model thread: select the LoRA, then sample frames into ``bridge``."""
        try:
            with self._gate.generating(lora), torch.inference_mode(), stage("csm.generate"):
                if bridge.stopped or self._model is None:
                    # Its stream was stopped, or the model unloaded, while this job waited.
                    raise SynthesisCancelled
                self._select(lora)
                self._model.generate(
                    **inputs.to(self._device), streamer=bridge, **self._generate_kwargs
                )
        finally:
            bridge.finish()

    def generate_audio(self, text: str, settings: CsmSettings) -> FloatAudio:
        """Blocking: one utterance through stock ``generate(output_audio=True)``."""
        inputs = self._inputs(text, settings.speaker)

        def run() -> FloatAudio:
            with self._gate.generating(settings.lora), torch.inference_mode():
                self._select(settings.lora)
                audio = self._model.generate(
                    **inputs.to(self._device), output_audio=True, **self._generate_kwargs
                )[0]
                return np.asarray(audio.float().cpu().numpy(), dtype=np.float32)

        return self._generator.submit(run).result()

    def measure_level(self) -> float | None:
        """The RMS level of one reference sentence (one gain per stream, set by the framer)."""
        level = rms_dbfs(self.generate_audio(LEVEL_REFERENCE, CsmSettings(speaker=0)))
        return None if math.isinf(level) else level

    # ---------------------------------------------------------------- LoRA (LoraHost)

    def add_lora(self, name: str, path: Path) -> None:
        """Blocking: load a peft LoRA adapter onto the resident model, named ``name``, and
        measure its level (a LoRA may speak louder or softer than the base)."""
        if not (path / "adapter_config.json").is_file():
            raise ValueError(f"LoRA {name!r}: {path} holds no adapter_config.json (a peft adapter)")
        with self._gate.changing():
            self._active_known = False  # load_adapter may switch the active adapter
            load_lora(self._model, name, path)
            self._loras.add(name)
        if self._params.level_dbfs is None:
            level = rms_dbfs(self.generate_audio(LEVEL_REFERENCE, CsmSettings(0, lora=name)))
            self._lora_levels[name] = None if math.isinf(level) else level

    def lora_level(self, name: str) -> float | None:
        """The level a LoRA's speech has (the voicepack's ``level_dbfs`` when given)."""
        return self._lora_levels.get(name, self.level_dbfs)

    def remove_lora(self, name: str) -> None:
        """Blocking: drop one LoRA adapter; the base model stays loaded."""
        with self._gate.changing():
            if name in self._loras and self._model is not None:
                self._model.delete_adapter(name)
            self._loras.discard(name)
            self._lora_levels.pop(name, None)
            self._active_known = False

    def stream_lora(
        self,
        name: str,
        text: AsyncIterator[str],
        *,
        voice: str,
        options: SynthesisOptions,
        cancel: CancelToken,
    ) -> AsyncGenerator[Audio, None]:
        settings = replace(self.prepare(voice=voice, options=options), lora=name)
        return self.stream_segments(text, settings, cancel=cancel)

    @property
    def loras(self) -> frozenset[str]:
        return frozenset(self._loras)

    def _select(self, lora: str | None) -> None:
        """Inside the gate: make ``lora`` (or no adapter) the one generate uses."""
        with self._selecting:  # generations of one selection may arrive together
            if not self._loras or (self._active_known and lora == self._active):
                return
            self._active_known = False  # until the switch has fully happened
            if lora is None:
                self._model.disable_adapters()
            else:
                self._model.enable_adapters()
                self._model.set_adapter(lora)
            self._active, self._active_known = lora, True

    def unload(self) -> None:
        with self._gate.changing():
            self._model = None
            self._processor = None
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        self._generator.shutdown(wait=False)
        self._loras.clear()


def _log_failure(job: Future[None]) -> None:
    """A generation the consumer left early: note a real failure (a stop is expected)."""
    if job.cancelled():
        return
    error = job.exception()
    if error is not None and not isinstance(error, SynthesisCancelled):
        log.warning("csm generation ended with %s: %s", type(error).__name__, error)
