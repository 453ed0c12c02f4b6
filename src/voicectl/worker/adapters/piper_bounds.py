"""How many phonemes Piper is given at once (pure).

Text caps do not bound the work: espeak-ng reads "123456789012345678901234567890" as
"one hundred twenty-three nonillion, ..." (hundreds of phonemes from 30 characters),
and Piper's encoder runs a sentence's phonemes in one pass, so memory grows with them.
Measured on en_US-joe-medium: 278 characters of 30-digit numbers (one 300-character
segment, no sentence end) took the worker's peak RSS up by 1.5 GiB. Cut at word
boundaries to ``MAX_PHONEMES`` per pass, the same text stays near an ordinary
sentence's cost; ordinary sentences (under ~300 phonemes) are never cut.
"""

from __future__ import annotations

MAX_PHONEMES = 400
WORD_GAP = " "  # espeak-ng's phoneme between words


def bounded_phrases(phonemes: list[str], limit: int = MAX_PHONEMES) -> list[list[str]]:
    """``phonemes`` in pieces of at most ``limit``, cut after a word gap where one is
    (a single word longer than ``limit`` is cut inside it). Joined, they are the input."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    pieces: list[list[str]] = []
    start = 0
    while len(phonemes) - start > limit:
        window = phonemes[start : start + limit]
        gaps = [i for i, p in enumerate(window) if p == WORD_GAP and i > 0]
        cut = start + (gaps[-1] + 1 if gaps else limit)
        pieces.append(phonemes[start:cut])
        start = cut
    if start < len(phonemes):
        pieces.append(phonemes[start:])
    return pieces
