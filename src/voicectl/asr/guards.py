"""Repetition guards for Whisper output: what a decoding loop looks like, in pure code.

Whisper's decoder, run greedily, can fall into a loop ("ask not to ask not to ask not
to ...") when the audio ends mid-word or in a pause. faster-whisper's ``transcribe``
catches that with the gzip compression ratio of the text (threshold 2.4) and a mean
log-probability floor (-1.0), then decodes again at a higher temperature. Short loops
compress poorly, so a token budget that cuts a loop early also hides it from the
compression ratio; ``repetition`` finds the repeated n-gram itself.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from voicectl.asr.wer import normalize_words

COMPRESSION_RATIO_THRESHOLD = 2.4  # faster-whisper's default
LOG_PROB_THRESHOLD = -1.0  # faster-whisper's default
# A phrase of 2+ words said three times running, or one word five times, is a loop.
MIN_PHRASE_REPEATS = 3
MIN_WORD_REPEATS = 5
MAX_PHRASE_WORDS = 12


def compression_ratio(text: str) -> float:
    """Bytes of ``text`` over bytes of its zlib compression (faster-whisper's measure)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


@dataclass(frozen=True)
class Repetition:
    """``phrase`` occurs ``times`` times back to back, starting at word ``start``."""

    phrase: tuple[str, ...]
    times: int
    start: int


def _keys(tokens: list[str]) -> list[str]:
    return [" ".join(normalize_words(token)) for token in tokens]


def _find(keys: list[str]) -> Repetition | None:
    worst: Repetition | None = None
    for size in range(1, min(MAX_PHRASE_WORDS, len(keys) // 2) + 1):
        needed = MIN_WORD_REPEATS if size == 1 else MIN_PHRASE_REPEATS
        start = 0
        while start + size * needed <= len(keys):
            phrase = keys[start : start + size]
            times = 1
            while keys[start + times * size : start + (times + 1) * size] == phrase:
                times += 1
            longer = worst is None or times * size > worst.times * len(worst.phrase)
            if times >= needed and longer:
                worst = Repetition(phrase=tuple(phrase), times=times, start=start)
            start += (times - 1) * size if times > 1 else 1
    return worst


def repetition(text: str) -> Repetition | None:
    """The worst run of a repeated phrase that counts as a loop, or None.

    Words compare normalized (case and punctuation ignored), so "And so. And so. And so."
    counts. A single word must repeat ``MIN_WORD_REPEATS`` times ("no, no, no" is
    speech), a longer phrase ``MIN_PHRASE_REPEATS`` times.
    """
    return _find(_keys(text.split()))


def is_loop(text: str) -> bool:
    """True when ``text`` repeats a phrase or compresses like a loop does."""
    return compression_ratio(text) > COMPRESSION_RATIO_THRESHOLD or repetition(text) is not None


def collapse_repetition(text: str) -> str:
    """``text`` with every looping run cut back to one occurrence: the last resort when
    even the fallback decode loops."""
    tokens = text.split()
    while (found := _find(_keys(tokens))) is not None:
        size = len(found.phrase)
        end = found.start + found.times * size
        tokens = [*tokens[: found.start], *tokens[end - size :]]  # the last one keeps its comma
    return " ".join(tokens)
