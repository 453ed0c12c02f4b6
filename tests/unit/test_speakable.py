"""Text a voice can be given: control characters and lone surrogates are named or removed."""

from __future__ import annotations

import pytest

from voicectl.speakable import speakable, unspeakable


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("x\x00", "control character U+0000 at offset 1"),
        ("bell\x07", "control character U+0007 at offset 4"),
        ("\x7fdel", "control character U+007F at offset 0"),
        ("c1 \x85", "control character U+0085 at offset 3"),
        ("half \ud800 pair", "lone surrogate U+D800 at offset 5"),
    ],
)
def test_unspeakable_text_is_named(text: str, reason: str) -> None:
    assert unspeakable(text) == reason


@pytest.mark.parametrize("text", ["Hello there.", "tab\tnew\nline\r", "café ☕ 你好", ""])
def test_speakable_text_passes(text: str) -> None:
    assert unspeakable(text) is None
    assert speakable(text) == text


def test_speakable_removes_only_what_cannot_be_spoken() -> None:
    assert speakable("You\x00 said:\x1b hi\ud800.") == "You said: hi."
