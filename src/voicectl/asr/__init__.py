"""Speech recognition: faster-whisper loaded from local files, and word error rate."""

from voicectl.asr.wer import normalize_words, word_error_rate
from voicectl.asr.whisper import WhisperASR, default_model_path

__all__ = ["WhisperASR", "default_model_path", "normalize_words", "word_error_rate"]
