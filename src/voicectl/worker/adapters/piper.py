"""The Piper adapter: fast CPU (or CUDA) speech from a Piper ONNX voice.

The base layer (``SegmentedAdapter``) cuts the text: a short first phrase, then sentences.
Each segment is synthesized as soon as it is complete (while more text is still
arriving), in the thread pool, with ``cancel`` polled between steps. A voice whose
graph can be cut (``piper_split``) decodes each sentence in windows
(``piper_windows``): the first ~90 ms of audio costs the front half and a few
frames of decoder, however long the sentence. Its output level is measured once at
load (``level_dbfs``), so the framer applies one gain per stream: no level step
between phrases or windows.
"""

from __future__ import annotations

import gc
import importlib
import json
import logging
import os
from collections.abc import AsyncGenerator, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Self

import numpy as np
from piper import SynthesisConfig
from piper.config import PiperConfig

from voicectl.audio.frames import FloatAudio
from voicectl.audio.loudness import rms_dbfs
from voicectl.audio.seams import trim_silence
from voicectl.worker.adapters.base import (
    CancelToken,
    Capabilities,
    ModelSpec,
    SynthesisCancelled,
    SynthesisOptions,
    run_blocking,
)
from voicectl.worker.adapters.piper_bounds import MAX_PHONEMES, bounded_phrases
from voicectl.worker.adapters.piper_sessions import LoadedVoice, ids_inputs, load_voice
from voicectl.worker.adapters.piper_split import SplitGraph, split_graph
from voicectl.worker.adapters.piper_windows import first_window_frames
from voicectl.worker.adapters.segmented import SegmentedAdapter
from voicectl.worker.scheduler import competing_streams, inferences_in_flight
from voicectl.worker.segment import SegmenterConfig, TextSegmenter, ends_mid_clause

DEVICES = ("cpu", "cuda")
# onnxruntime intra-op threads per inference. 0 (default) adapts: all cores for an inference
# that has the pool to itself (lowest latency), one core each when inferences overlap
# (highest throughput: 27.5x real time on 2 cores against 20.7x with every run on all cores).
DEFAULT_THREADS = 0
# Inference jobs in flight from which the pool counts as saturated (one per core).
BUSY_INFERENCES = os.cpu_count() or 2
# Spoken at load to measure the voice's output level: replies of every length and kind, as
# the level of one sentence is off the voice's by up to 2 dB.
LEVEL_REFERENCE = (
    "Sure. Hello there, how can I help you today? Okay, I set a timer for ten minutes. "
    "The meeting has been moved to Thursday afternoon at the main office. "
    "Would you like me to read the list again? Yes! Please bring the quarterly report."
)

log = logging.getLogger(__name__)


class PiperAdapter(SegmentedAdapter[Any]):
    """One loaded Piper voice; safe to stream from several sessions at once. The base
    layer cuts the text; Piper speaks a segment at a time (``synthesize_segment``)."""

    name = "piper"
    capabilities = Capabilities(streaming_text_input=True, devices=DEVICES)

    def __init__(
        self, *, spec: ModelSpec, loaded: LoadedVoice, segmenter: SegmenterConfig | None = None
    ) -> None:
        config: PiperConfig = loaded.voice.config
        super().__init__(spec=spec, native_sample_rate=config.sample_rate)
        self._voice: Any = loaded.voice  # PiperVoice (untyped); None once unloaded
        self._windowed = loaded.windowed
        self._config = config
        self.segmenter_config = segmenter or SegmenterConfig()
        if self._windowed is not None:
            self.level_dbfs = rms_dbfs(np.concatenate(list(self._sentences(LEVEL_REFERENCE))))

    @property
    def windowed(self) -> bool:
        """True if sentences are decoded in windows (the voice's graph was cut)."""
        return self._windowed is not None

    @classmethod
    def load(cls, spec: ModelSpec) -> Self:
        model_path, config_path = resolve_files(spec)
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
        windows = spec.params.get("windows", True)
        if not isinstance(windows, bool):
            raise ValueError(
                f"model {spec.model_id!r}: param 'windows' must be true or false "
                f"(false = decode whole sentences), got {windows!r}"
            )
        try:
            split = _split(spec, model_path) if windows else None
            loaded = load_voice(
                model_path, config_path, cuda=device == "cuda", threads=threads, split=split
            )
            return cls(spec=spec, loaded=loaded)
        except Exception as exc:  # onnx and onnxruntime raise their own types for bad files
            raise ValueError(
                f"model {spec.model_id!r}: cannot load Piper model {model_path} "
                f"(corrupt or not an ONNX voice): {exc}"
            ) from exc

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

    def segmenter(self) -> TextSegmenter:
        return TextSegmenter(config=self.segmenter_for_load(inferences_in_flight()))

    def prepare(self, *, voice: str, options: SynthesisOptions) -> Any:
        if options.speed <= 0:
            raise ValueError(f"speed must be > 0, got {options.speed}")
        return SynthesisConfig(
            speaker_id=self.speaker_id(voice),
            length_scale=self._config.length_scale / options.speed,
        )

    async def synthesize_segment(
        self, segment: str, settings: Any, *, cancel: CancelToken, joined: bool
    ) -> AsyncGenerator[FloatAudio, None]:
        """Synthesize one segment: each ``next`` of ``_sentences`` runs in the pool."""
        if self._voice is None:
            raise RuntimeError(f"model {self.spec.model_id!r} is unloaded")
        if cancel.cancelled:
            raise SynthesisCancelled
        # A lazy generator: phonemization and inference happen in ``next``, in the pool.
        steps: Iterator[FloatAudio] = iter(
            self._sentences(segment, settings, trim_head=joined, trim_tail=ends_mid_clause(segment))
        )
        while True:
            audio = await run_blocking(partial(next, steps, None))
            if cancel.cancelled:
                raise SynthesisCancelled
            if audio is None:
                return
            if audio.size:
                yield audio

    def _sentences(
        self, text: str, syn_config: Any = None, *, trim_head: bool = False,
        trim_tail: bool = False,
    ) -> Iterator[FloatAudio]:  # fmt: skip
        """The audio of ``text``: a window at a time if the graph was cut, else a sentence
        at a time through Piper's own ``synthesize``. Every sentence is windowed, not just
        the first: decoding later sentences whole saved compute (RTF 0.062 -> 0.050) but
        their long jobs held cores that other streams' next windows waited for
        (`fal --concurrency 4` p95 141 -> 171 ms, an underrun per 30 s at 16 sessions).
        ``trim_head``/``trim_tail``: cut the silence Piper puts before/after the text to a
        word gap, where it joins a phrase cut mid-clause (windowed voices only)."""
        voice, windowed = self._voice, self._windowed
        syn_config = syn_config or SynthesisConfig()
        sentences = [
            piece
            for phonemes in voice.phonemize(text)
            if phonemes
            for piece in bounded_phrases(phonemes)  # memory grows with phonemes per pass
        ]
        if windowed is None:
            yield from _whole_sentences(voice, text, sentences, syn_config)
            return
        for index, phonemes in enumerate(sentences):
            inputs = ids_inputs(voice, voice.phonemes_to_ids(phonemes), syn_config)
            frames = first_window_frames(competing_streams(), BUSY_INFERENCES)
            first = True
            for audio, last in windowed.windows(inputs, first=frames):
                head = trim_head and first and index == 0
                tail = trim_tail and last and index == len(sentences) - 1
                first = False
                if head or tail:
                    audio = trim_silence(audio, rate=self.native_sample_rate, head=head, tail=tail)
                # Piper's safeguard; its per-sentence peak scaling is the framer's gain here.
                yield np.clip(audio, -1.0, 1.0)

    def unload(self) -> None:
        self._voice = None
        gc.collect()


def _whole_sentences(
    voice: Any, text: str, sentences: list[list[str]], syn_config: Any
) -> Iterator[FloatAudio]:
    """Piper's own ``synthesize`` when no sentence needed cutting (the stock result);
    else the bounded pieces, each through the same steps ``synthesize`` takes."""
    if all(len(piece) < MAX_PHONEMES for piece in sentences):
        for chunk in voice.synthesize(text, syn_config=syn_config):
            yield np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
        return
    for piece in sentences:
        audio = np.asarray(
            voice.phoneme_ids_to_audio(voice.phonemes_to_ids(piece), syn_config), np.float32
        ).reshape(-1)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if syn_config.normalize_audio:
            audio = audio / peak if peak >= 1e-8 else np.zeros_like(audio)
        yield np.clip(audio * syn_config.volume, -1.0, 1.0).astype(np.float32)


def _split(spec: ModelSpec, model_path: Path) -> SplitGraph | None:
    """The cut graph, or None (decode whole sentences) if it cannot be cut or cached. Any
    failure here falls back: a graph `onnx` cannot read may still load in onnxruntime, and
    a truly corrupt file fails there, with the load's own message."""
    try:
        return split_graph(model_path)
    except Exception as exc:  # a read-only cache, or a graph the onnx package cannot parse
        log.warning("model %s: cannot cut the graph (%s); decoding whole sentences",
                    spec.model_id, exc)  # fmt: skip
        return None


def resolve_files(spec: ModelSpec) -> tuple[Path, Path]:
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
