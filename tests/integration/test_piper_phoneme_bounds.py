"""The real Piper voice never runs more than MAX_PHONEMES in one pass, however many
phonemes espeak-ng makes of a text; ordinary sentences still run whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from voicectl.worker.adapters.base import CancelToken, SynthesisOptions
from voicectl.worker.adapters.piper import PiperAdapter
from voicectl.worker.adapters.piper_bounds import MAX_PHONEMES
from voicectl.worker.catalog import PIPER_JOE

pytestmark = pytest.mark.slow

DIGITS = " ".join(["123456789012345678901234567890"] * 9)  # 278 characters, one segment
SENTENCE = (
    "Your meeting with the design team has been moved from Tuesday afternoon to "
    "Wednesday morning at ten thirty, in the large conference room on the third floor."
)


async def one(text: str) -> AsyncIterator[str]:
    yield text


@pytest.fixture(scope="module")
def joe() -> PiperAdapter:
    return PiperAdapter.load(PIPER_JOE)


async def passes(voice: PiperAdapter, text: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Phonemes per encoder pass while ``text`` is streamed."""
    piper_voice = voice._voice
    seen: list[int] = []
    original = piper_voice.phonemes_to_ids

    def counting(phonemes: list[str]) -> list[int]:
        seen.append(len(phonemes))
        return list(original(phonemes))

    monkeypatch.setattr(piper_voice, "phonemes_to_ids", counting)
    stream = voice.stream(one(text), voice="default", options=SynthesisOptions(),
                          cancel=CancelToken())  # fmt: skip
    samples = sum([audio.size async for audio in stream])
    assert samples > 0
    return seen


async def test_a_number_flood_runs_in_bounded_passes(
    joe: PiperAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = await passes(joe, DIGITS, monkeypatch)
    assert max(seen) <= MAX_PHONEMES
    assert sum(seen) > 3 * MAX_PHONEMES  # espeak-ng made thousands of phonemes of it


async def test_an_ordinary_long_sentence_is_not_cut(
    joe: PiperAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = await passes(joe, SENTENCE, monkeypatch)
    # The segmenter cuts a short first phrase; the rest of the sentence runs in one pass.
    assert len(seen) == 2
    assert max(seen) < MAX_PHONEMES
