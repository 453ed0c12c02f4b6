"""Phonemes per Piper pass are bounded, cut at word gaps (pure)."""

from __future__ import annotations

import pytest

from voicectl.worker.adapters.piper_bounds import WORD_GAP, bounded_phrases


def words(*lengths: int) -> list[str]:
    out: list[str] = []
    for n in lengths:
        if out:
            out.append(WORD_GAP)
        out += ["a"] * n
    return out


def test_short_input_is_one_piece_and_pieces_join_back() -> None:
    phonemes = words(3, 4, 5)
    assert bounded_phrases(phonemes, limit=100) == [phonemes]
    long = words(*([7] * 40))
    pieces = bounded_phrases(long, limit=50)
    assert [p for piece in pieces for p in piece] == long
    assert all(len(p) <= 50 for p in pieces)
    assert all(p[-1] == WORD_GAP for p in pieces[:-1])  # cut after a word, never inside


def test_a_word_longer_than_the_limit_is_cut_inside_it() -> None:
    pieces = bounded_phrases(["x"] * 25, limit=10)
    assert [len(p) for p in pieces] == [10, 10, 5]
    assert bounded_phrases([], limit=10) == []
    with pytest.raises(ValueError, match="limit must be >= 1"):
        bounded_phrases(["x"], limit=0)
