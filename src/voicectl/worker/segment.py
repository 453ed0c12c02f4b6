"""Streaming text segmentation for low first-audio latency (pure: no I/O, no clock).

Text arrives in arbitrary chunks (LLM tokens). A word counts only once the
whitespace after it has arrived (or at ``flush()``), so a boundary is decided
only when it is final and the segments never depend on where the chunks were
cut. The first segment of a stream is a short phrase (cut at the first clause
boundary after a few characters, or before it grows past a few words) so that
synthesis of the first audio is quick; later segments are whole sentences.

Segments are whitespace-normalized: ``" ".join(segments) == " ".join(text.split())``,
except that a "word" longer than ``max_word_chars`` (no language has one; a 4 KB token
made Piper allocate 500+ MB) is cut into pieces of that length, spoken as words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SENTENCE_END = frozenset(".!?…")
CLAUSE_END = frozenset(",;:")
EM, EN = "\u2014", "\u2013"
DASHES = frozenset({"-", "--", EM, EN})
CLOSERS = "\"')]}\u00bb\u201d\u2019"  # closing quotes and brackets
OPENERS = "\"'([{\u00ab\u201c\u2018"  # opening quotes and brackets
# Lower-case, without the final period. Words that often end a sentence ("etc.", "no.",
# "Inc.") are left out: a missed boundary only delays audio, a wrong one breaks prosody.
ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "cf", "approx",
        "dept", "capt", "lt", "sgt", "jan", "feb", "apr", "aug", "sept", "oct", "nov",
    }
)  # fmt: skip
_WORD = re.compile(r"\s*(\S+)(\s)")
_INITIALS = re.compile(r"(?:[A-Za-z]\.)+")


@dataclass(frozen=True, kw_only=True)
class SegmenterConfig:
    """Where segments are cut. Character counts are of the whitespace-normalized text."""

    first_phrase_min_chars: int = 3
    """A clause boundary (, ; : dash) ends the first phrase once it is at least this long."""
    first_phrase_max_chars: int = 32
    """Without punctuation, the first phrase ends before the word that would exceed this..."""
    first_phrase_max_words: int = 5
    """...or after this many words, whichever comes first."""
    max_segment_chars: int = 300
    """Hard cap for later segments: a run-on sentence is cut before the word exceeding it."""
    max_word_chars: int = 64
    """Longer runs without whitespace are cut into pieces this long (URLs fit, 4 KB don't)."""

    def __post_init__(self) -> None:
        for name in ("first_phrase_max_chars", "first_phrase_max_words", "max_segment_chars",
                     "max_word_chars"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"SegmenterConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.first_phrase_min_chars <= self.first_phrase_max_chars:
            raise ValueError(
                "SegmenterConfig.first_phrase_min_chars must be in 0..first_phrase_max_chars, "
                f"got {self.first_phrase_min_chars}"
            )


def is_sentence_end(word: str) -> bool:
    """True if ``word`` (followed by whitespace) ends a sentence: "end.", "so?!", "(it.)"."""
    core = word.rstrip(CLOSERS)
    if not core or core[-1] not in SENTENCE_END:
        return False
    if core[-1] != "." or core.endswith(".."):
        return True
    stem = core[:-1].lstrip(OPENERS)
    if stem.lower() in ABBREVIATIONS:
        return False
    # Initials and dotted acronyms: "J.", "U.S.", "e.g." (a lone "I." still ends a sentence).
    return not (_INITIALS.fullmatch(core.lstrip(OPENERS)) and stem != "I")


def is_clause_end(word: str) -> bool:
    """True if ``word`` ends a clause: "well,", "note:", "this;", a dash or "word—"."""
    core = word.rstrip(CLOSERS)
    return bool(core) and (core in DASHES or core[-1] in CLAUSE_END or core[-1] in (EM, EN))


def ends_mid_clause(segment: str) -> bool:
    """True if ``segment`` was cut where no punctuation is (its speech runs on)."""
    words = segment.split()
    return bool(words) and not (is_sentence_end(words[-1]) or is_clause_end(words[-1]))


class TextSegmenter:
    """Incremental segmenter for one text stream; ``flush()`` ends it and resets for reuse."""

    def __init__(self, *, config: SegmenterConfig | None = None) -> None:
        self.config = config or SegmenterConfig()
        self._buffer = ""  # text not yet split into complete words
        self._words: list[str] = []  # complete words of the pending segment
        self._chars = 0  # length of " ".join(self._words)
        self._first = True  # the next segment is the stream's first phrase

    def push(self, text: str) -> list[str]:
        """Add a chunk of text; return the segments whose end is now certain."""
        self._buffer += text
        segments: list[str] = []
        pos = 0
        while match := _WORD.match(self._buffer, pos):
            segments += self._add_long(match.group(1), newline=match.group(2) in "\r\n")
            pos = match.end()
        self._buffer = self._buffer[pos:]
        return segments

    def flush(self) -> list[str]:
        """End of input: return the remaining segments and reset to a fresh stream."""
        segments = self.push("")
        last = self._buffer.strip()
        if last:
            segments += self._add_long(last, newline=False)
        if self._words:
            segments.append(self._cut())
        self._buffer = ""
        self._first = True
        return segments

    @property
    def pending(self) -> str:
        """Text received but not yet emitted (whitespace-normalized)."""
        return " ".join([*self._words, *self._buffer.split()])

    def _add_long(self, word: str, *, newline: bool) -> list[str]:
        """``_add``, a piece at a time for a word over ``max_word_chars``."""
        size = self.config.max_word_chars
        pieces = [word[i : i + size] for i in range(0, len(word), size)]
        out: list[str] = []
        for index, piece in enumerate(pieces):
            out += self._add(piece, newline=newline and index == len(pieces) - 1)
        return out

    def _add(self, word: str, *, newline: bool) -> list[str]:
        cfg = self.config
        out: list[str] = []
        limit = cfg.first_phrase_max_chars if self._first else cfg.max_segment_chars
        if self._words and self._chars + 1 + len(word) > limit:
            out.append(self._cut())
        self._chars += len(word) + (1 if self._words else 0)
        self._words.append(word)
        if (
            newline
            or is_sentence_end(word)
            or (
                self._first
                and (
                    len(self._words) >= cfg.first_phrase_max_words
                    or (is_clause_end(word) and self._chars >= cfg.first_phrase_min_chars)
                )
            )
        ):
            out.append(self._cut())
        return out

    def _cut(self) -> str:
        segment = " ".join(self._words)
        self._words = []
        self._chars = 0
        self._first = False
        return segment
