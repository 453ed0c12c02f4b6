"""TextSegmenter: a short first phrase, then sentences, independent of chunking."""

from __future__ import annotations

import random

import pytest

from voicectl.worker.segment import (
    SegmenterConfig,
    TextSegmenter,
    is_clause_end,
    is_sentence_end,
)

TEXTS = [
    "Hello there, my friend. How are you today? I am fine.",
    "Sure, I can help with that: the meeting moved to Thursday at 3.30 pm. See you!",
    "Mr. Smith paid $3.14 for it, e.g. a coffee. Dr. Jones paid 2.5 euros. Ok.",
    "The U.S. team won again... Really? Yes! It was 10:30 when they left.",
    "one two three four five six seven eight nine ten eleven twelve",
    "  Leading   spaces\tand\n\nnewlines\r\nare fine .  ",
    'He said "stop." Then she left (quietly.) And "why?" we asked.',
    "Well \u2014 you know \u2014 it is what it is; really - it is.",
    "Items:\n- apples\n- pears\nThat is all.",
    "Supercalifragilisticexpialidocious-antidisestablishmentarianism words follow here.",
    "",
    "   ",
    "x",
]


def segment(text: str, chunks: list[int] | None = None, **config: int) -> list[str]:
    """Feed ``text`` cut at ``chunks`` offsets (or char by char) and flush."""
    seg = TextSegmenter(config=SegmenterConfig(**config))
    cuts = sorted(set(chunks)) if chunks is not None else list(range(len(text)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    out: list[str] = []
    for piece in pieces:
        out += seg.push(piece)
    return out + seg.flush()


def whole(text: str) -> list[str]:
    seg = TextSegmenter()
    return seg.push(text) + seg.flush()


def normalized(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("text", TEXTS)
def test_segments_rebuild_the_normalized_text(text: str) -> None:
    segments = whole(text)
    assert " ".join(segments) == normalized(text)
    assert all(s and s == normalized(s) for s in segments), segments


@pytest.mark.parametrize("text", TEXTS)
def test_chunking_does_not_change_segments(text: str) -> None:
    expected = whole(text)
    assert segment(text) == expected  # one character at a time
    rng = random.Random(1234)
    for _ in range(200):
        cuts = [rng.randrange(len(text) + 1) for _ in range(rng.randrange(6))]
        assert segment(text, cuts) == expected, cuts


def test_llm_token_stream() -> None:
    seg = TextSegmenter()
    assert seg.push("Hel") == []
    assert seg.push("lo, wor") == ["Hello,"]
    assert seg.push("ld.") == []  # "." might still be "3.14" or "world.com"
    assert seg.push(" Next") == ["world."]
    assert seg.pending == "Next"
    assert seg.flush() == ["Next"]


def test_first_phrase_is_short_and_later_segments_are_sentences() -> None:
    text = "Sure, I can help you with that, and also with the rest of it. Then more, and more."
    assert whole(text) == [
        "Sure,",
        "I can help you with that, and also with the rest of it.",
        "Then more, and more.",
    ]


def test_first_phrase_without_punctuation_is_cut_by_words_or_chars() -> None:
    text = "the meeting has been moved to thursday afternoon so update your calendar."
    first, *rest = segment(text, first_phrase_max_words=5, first_phrase_max_chars=100)
    assert first == "the meeting has been moved"
    assert rest == ["to thursday afternoon so update your calendar."]
    first, *_ = segment(text, first_phrase_max_words=50, first_phrase_max_chars=20)
    assert first == "the meeting has been"  # adding " moved" would pass 20 chars


def test_first_phrase_min_chars_skips_early_clause() -> None:
    assert whole("So, what is it, then? Fine.")[0] == "So,"
    assert segment("So, what is it, then? Fine.", first_phrase_min_chars=5)[0] == (
        "So, what is it,"
    )


def test_short_first_sentence_is_its_own_segment() -> None:
    assert whole("Hi! How are you doing today, my dear old friend?") == [
        "Hi!",
        "How are you doing today, my dear old friend?",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello. Mr. Smith met Dr. Who. Bye.", ["Hello.", "Mr. Smith met Dr. Who.", "Bye."]),
        ("Hi. Pi is 3.14 or so. Bye.", ["Hi.", "Pi is 3.14 or so.", "Bye."]),
        (
            "Hi. Use e.g. salt or i.e. pepper. Bye.",
            ["Hi.", "Use e.g. salt or i.e. pepper.", "Bye."],
        ),
        ("Hi. J. R. R. Tolkien wrote it. Bye.", ["Hi.", "J. R. R. Tolkien wrote it.", "Bye."]),
        ("Hi. Wait... what? No! Ok.", ["Hi.", "Wait...", "what?", "No!", "Ok."]),
        ("Hi. The answer is no. Ok.", ["Hi.", "The answer is no.", "Ok."]),
        (
            "Hi. So did I. Ok.",
            [
                "Hi.",
                "So did I.",
                "Ok.",
            ],
        ),
        ('Hi. "Go." She went. Ok.', ["Hi.", '"Go."', "She went.", "Ok."]),
    ],
)
def test_sentence_boundaries(text: str, expected: list[str]) -> None:
    assert whole(text) == expected


def test_newline_ends_a_segment() -> None:
    assert whole("Shopping list\n- apples\n- pears") == ["Shopping list", "- apples", "- pears"]


def test_run_on_text_is_capped() -> None:
    text = " ".join(["word"] * 200)
    segments = segment(text, max_segment_chars=50)
    assert all(len(s) <= 50 for s in segments)
    assert " ".join(segments) == text


def test_no_empty_segments_and_flush_resets() -> None:
    seg = TextSegmenter()
    assert seg.push("   \n  ") == []
    assert seg.flush() == []
    assert seg.flush() == []
    assert seg.push("First, then ") == ["First,"]
    assert seg.flush() == ["then"]
    # After flush the next stream starts with a short first phrase again.
    assert seg.push("Again, once more. ") == ["Again,", "once more."]
    assert seg.flush() == []


@pytest.mark.parametrize(
    ("word", "ends"),
    [
        ("end.", True),
        ("so?!", True),
        ("(it.)", True),
        ("I.", True),
        ("etc.", True),
        ("Mr.", False),
        ("U.S.", False),
        ("3.14", False),
        ("word", False),
    ],
)
def test_is_sentence_end(word: str, ends: bool) -> None:
    assert is_sentence_end(word) is ends


@pytest.mark.parametrize(
    ("word", "ends"),
    [
        ("well,", True),
        ("-", True),
        ("so\u2014", True),
        ("note:", True),
        ("well-known", False),
        ("3,000", False),
        ("word", False),
    ],
)
def test_is_clause_end(word: str, ends: bool) -> None:
    assert is_clause_end(word) is ends


@pytest.mark.parametrize(
    "config",
    [
        {"first_phrase_max_words": 0},
        {"max_segment_chars": 0},
        {"first_phrase_min_chars": 50, "first_phrase_max_chars": 10},
    ],
)
def test_bad_config_is_refused(config: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="SegmenterConfig"):
        SegmenterConfig(**config)


def test_a_word_longer_than_any_word_is_cut_into_pieces() -> None:
    segmenter = TextSegmenter(config=SegmenterConfig(max_word_chars=64))
    text = "Say " + "a" * 4000 + " now."
    segments = [*segmenter.push(text), *segmenter.flush()]
    words = " ".join(segments).split()
    assert max(len(word) for word in words) == 64
    assert "".join(words) == "".join(text.split())  # nothing lost, only cut
    assert all(len(segment) <= 300 for segment in segments)
    with pytest.raises(ValueError, match="max_word_chars"):
        SegmenterConfig(max_word_chars=0)
