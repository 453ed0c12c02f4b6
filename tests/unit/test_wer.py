"""Word error rate over normalized words."""

from __future__ import annotations

import pytest

from voicectl.asr.wer import normalize_words, word_error_rate


def test_identical_text_has_no_errors() -> None:
    assert word_error_rate("the cat sat down", "the cat sat down") == 0.0


def test_one_substitution_in_four_words() -> None:
    assert word_error_rate("the cat sat down", "the dog sat down") == 0.25


def test_deletion_and_insertion() -> None:
    assert word_error_rate("the cat sat down", "the cat down") == 0.25
    assert word_error_rate("the cat sat down", "the cat sat right down") == 0.25
    assert word_error_rate("the cat", "a the cat sat") == 1.0


def test_punctuation_and_case_are_ignored() -> None:
    assert word_error_rate("Well, the cat sat down.", "well the CAT sat down!") == 0.0
    assert word_error_rate("It's fine.", "it\u2019s fine") == 0.0


def test_numbers_are_left_as_written() -> None:
    assert normalize_words("I have 42 apples") == ["i", "have", "42", "apples"]
    assert word_error_rate("I have 42 apples", "I have forty-two apples") == 0.5


def test_everything_wrong_is_at_least_one() -> None:
    assert word_error_rate("the cat sat down", "a dog ran off") == 1.0
    assert word_error_rate("the cat sat down", "") == 1.0


@pytest.mark.parametrize(("hypothesis", "expected"), [("", 0.0), ("...", 0.0), ("something", 1.0)])
def test_empty_reference(hypothesis: str, expected: float) -> None:
    assert word_error_rate("", hypothesis) == expected
    assert word_error_rate(" ,. ", hypothesis) == expected


def test_normalize_words_drops_punctuation() -> None:
    assert normalize_words("Hello -- World! (again)") == ["hello", "world", "again"]
