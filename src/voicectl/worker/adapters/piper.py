"""The Piper adapter: fast CPU (or CUDA) speech from a Piper ONNX voice.

Text is cut by ``TextSegmenter``: a short first phrase, then whole sentences.
Each segment is synthesized as soon as it is complete (while more text is still
arriving), one Piper chunk per sentence, in the thread pool, with ``cancel``
polled between sentences.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Self

import numpy as np
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

from voicectl.audio.frames import FloatAudio
from voicectl.worker.adapters.base import (
    CancelToken,
    Capabilities,
    ModelSpec,
    SynthesisCancelled,
    SynthesisOptions,
    TTSAdapter,
    run_blocking,
)
from voicectl.worker.scheduler import at_inference_priority, inferences_in_flight
from voicectl.worker.segment import SegmenterConfig, TextSegmenter

DEVICES = ("cpu", "cuda")
# onnxruntime intra-op threads per inference. 0 (default) adapts: all cores for an inference
# that has the pool to itself (lowest latency), one core each when inferences overlap
# (highest throughput: 27.5x real time on 2 cores against 20.7x with every run on all cores).
DEFAULT_THREADS = 0
# Inference jobs in flight from which the pool counts as saturated (one per core).
BUSY_INFERENCES = os.cpu_count() or 2


def _session_options(threads: int, *, spin: bool) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    # Spinning pool threads answer faster but burn cores other streams' inferences need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return options


class AdaptiveSession:
    """Two onnxruntime sessions of one model, chosen per ``run`` by how busy the pool is.

    Stands in for ``PiperVoice.session`` (only ``run`` is used). The cost is a second copy
    of the weights in memory.
    """

    def __init__(self, alone: Any, shared: Any) -> None:
        self.alone = alone  # all cores
        self.shared = shared  # one core
        self.runs_alone = 0
        self.runs_shared = 0
        self._lock = threading.Lock()
        self._pinned: Any = None

    def run(self, output_names: Any, inputs: Any) -> Any:
        session = self._pinned
        if session is None:
            session = self.alone if inferences_in_flight() <= 1 else self.shared
        with self._lock:
            if session is self.alone:
                self.runs_alone += 1
            else:
                self.runs_shared += 1
        return session.run(output_names, inputs)

    def warm_shared(self, synthesize: Callable[[], object]) -> None:
        """Run ``synthesize`` on the one-core session (at load, before any stream): the
        manager's warmup runs alone, and the first overlap should not pay a first run."""
        self._pinned = self.shared
        try:
            synthesize()
        finally:
            self._pinned = None


def _load_voice(model_path: Path, config_path: Path, *, cuda: bool, threads: int) -> Any:
    """PiperVoice with our own onnxruntime session options (PiperVoice.load has none)."""
    import onnxruntime

    with config_path.open(encoding="utf-8") as file:
        config = PiperConfig.from_dict(json.load(file))
    providers: list[Any] = (
        [("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"})]
        if cuda
        else ["CPUExecutionProvider"]
    )

    def session(threads: int, *, spin: bool = False) -> Any:
        options = _session_options(threads, spin=spin)
        # onnxruntime's pool threads start here and inherit the inference priority.
        return at_inference_priority(
            lambda: onnxruntime.InferenceSession(
                str(model_path), sess_options=options, providers=providers
            )
        )

    if threads or cuda:
        return PiperVoice(config=config, session=session(threads))
    adaptive = AdaptiveSession(alone=session(0, spin=True), shared=session(1))
    voice = PiperVoice(config=config, session=adaptive)
    adaptive.warm_shared(lambda: list(voice.synthesize("Hello.")))
    return voice


class PiperAdapter(TTSAdapter):
    """One loaded Piper voice; safe to stream from several sessions at once."""

    name = "piper"
    capabilities = Capabilities(streaming_text_input=True, devices=DEVICES)

    def __init__(
        self, *, spec: ModelSpec, voice: Any, segmenter: SegmenterConfig | None = None
    ) -> None:
        config: PiperConfig = voice.config
        super().__init__(spec=spec, native_sample_rate=config.sample_rate)
        self._voice: Any = voice  # PiperVoice (untyped); None once unloaded
        self._config = config
        self.segmenter_config = segmenter or SegmenterConfig()

    @classmethod
    def load(cls, spec: ModelSpec) -> Self:
        model_path, config_path = _resolve_files(spec)
        device = spec.params.get("device", "cpu")
        if device not in DEVICES:
            raise ValueError(
                f"model {spec.model_id!r}: param 'device' must be one of {DEVICES}, got {device!r}"
            )
        if not model_path.is_file():
            raise FileNotFoundError(f"model {spec.model_id!r}: Piper model not found: {model_path}")
        if not config_path.is_file():
            raise FileNotFoundError(
                f"model {spec.model_id!r}: Piper voice config not found: {config_path}"
            )
        try:
            with config_path.open(encoding="utf-8") as file:
                rate = PiperConfig.from_dict(json.load(file)).sample_rate
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"model {spec.model_id!r}: invalid Piper voice config {config_path}: {exc!r}"
            ) from exc
        if spec.sample_rate and spec.sample_rate != rate:
            raise ValueError(
                f"model {spec.model_id!r}: sample_rate is {spec.sample_rate} Hz in the spec "
                f"but {rate} Hz in {config_path}"
            )
        threads = spec.params.get("threads", DEFAULT_THREADS)
        if not isinstance(threads, int) or isinstance(threads, bool) or not 0 <= threads <= 64:
            raise ValueError(
                f"model {spec.model_id!r}: param 'threads' must be an integer 0..64 "
                f"(0 = adapt to the load), got {threads!r}"
            )
        try:
            voice = _load_voice(model_path, config_path, cuda=device == "cuda", threads=threads)
        except Exception as exc:  # onnxruntime raises its own types for corrupt files
            raise ValueError(
                f"model {spec.model_id!r}: cannot load Piper model {model_path} "
                f"(corrupt or not an ONNX voice): {exc}"
            ) from exc
        return cls(spec=spec, voice=voice)

    @property
    def voices(self) -> tuple[str, ...]:
        return ("default", *sorted(self._config.speaker_id_map))

    def speaker_id(self, voice: str) -> int | None:
        """Piper speaker id for ``voice`` (None: the voice's default speaker)."""
        if voice == "default":
            return None
        if self._config.num_speakers > 1 and voice in self._config.speaker_id_map:
            return int(self._config.speaker_id_map[voice])
        raise ValueError(
            f"unknown voice {voice!r} for model {self.spec.model_id!r}; "
            f"allowed: {', '.join(self.voices)}"
        )

    def segmenter_for_load(self, in_flight: int) -> SegmenterConfig:
        """The first phrase must play long enough to hide the next segment's inference.
        With the inference pool saturated that inference waits behind other streams', so
        the first phrase runs to its word/char cap instead of the first clause boundary."""
        if in_flight < BUSY_INFERENCES:
            return self.segmenter_config
        config = self.segmenter_config
        return replace(config, first_phrase_min_chars=config.first_phrase_max_chars)

    async def stream(
        self,
        text: AsyncIterator[str],
        *,
        voice: str,
        options: SynthesisOptions,
        cancel: CancelToken,
    ) -> AsyncIterator[FloatAudio]:
        if options.speed <= 0:
            raise ValueError(f"speed must be > 0, got {options.speed}")
        syn_config = SynthesisConfig(
            speaker_id=self.speaker_id(voice),
            length_scale=self._config.length_scale / options.speed,
        )
        segmenter = TextSegmenter(config=self.segmenter_for_load(inferences_in_flight()))
        async for chunk in text:
            for segment in segmenter.push(chunk):
                async for audio in self._synthesize(segment, syn_config, cancel):
                    yield audio
        for segment in segmenter.flush():
            async for audio in self._synthesize(segment, syn_config, cancel):
                yield audio

    async def _synthesize(
        self, segment: str, syn_config: Any, cancel: CancelToken
    ) -> AsyncIterator[FloatAudio]:
        """Synthesize one segment, a Piper sentence per thread-pool call."""
        voice = self._voice
        if voice is None:
            raise RuntimeError(f"model {self.spec.model_id!r} is unloaded")
        if cancel.cancelled:
            raise SynthesisCancelled
        # A lazy generator: phonemization and inference happen in ``next``, in the pool.
        sentences: Iterator[Any] = iter(voice.synthesize(segment, syn_config=syn_config))
        while True:
            chunk = await run_blocking(partial(next, sentences, None))
            if cancel.cancelled:
                raise SynthesisCancelled
            if chunk is None:
                return
            audio: FloatAudio = np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
            if audio.size:
                yield audio

    def render(self, text: str, *, voice: str = "default") -> FloatAudio:
        """The whole text in one blocking pass, for offline use (the user voice of `talk`).
        ``stream`` cuts a short first phrase for latency; that seam can blur a word (tiny.en
        hears "weather like | today" as "weather light today"), which a recording must not."""
        piper_voice = self._voice
        if piper_voice is None:
            raise RuntimeError(f"model {self.spec.model_id!r} is unloaded")
        syn_config = SynthesisConfig(
            speaker_id=self.speaker_id(voice), length_scale=self._config.length_scale
        )
        chunks = [
            np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
            for chunk in piper_voice.synthesize(text, syn_config=syn_config)
        ]
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)

    def unload(self) -> None:
        self._voice = None
        gc.collect()


def _resolve_files(spec: ModelSpec) -> tuple[Path, Path]:
    """The model and config paths: from ``spec.files``, else from the ``package`` param."""
    model = spec.files.get("model")
    config = spec.files.get("config")
    package_name = spec.params.get("package")
    if model is None and package_name:
        try:
            package = importlib.import_module(str(package_name))
        except ImportError as exc:
            raise ValueError(
                f"model {spec.model_id!r}: voice package {package_name!r} is not installed "
                f"(pip install {str(package_name).replace('_', '-')})"
            ) from exc
        model = Path(package.model_path())
        config = config or Path(package.config_path())
    if model is None:
        raise ValueError(
            f"model {spec.model_id!r}: the Piper adapter needs files.model (an .onnx path) "
            "or params.package (an installed voice package)"
        )
    return Path(model), Path(config) if config is not None else Path(f"{model}.json")
