"""Reference recordings for cloned voices: what makes a poor one, said plainly (pure)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import jfk_clip
from voicectl.worker.voices import (
    ReferenceError,
    check_name,
    check_reference,
    load_voice,
    save_voice,
    voice_names,
)

RATE = 22050


def test_eight_seconds_of_a_real_speaker_is_a_good_reference() -> None:
    check_reference(jfk_clip(0.0, 8.0), RATE, name="jfk")


@pytest.mark.parametrize(
    ("audio", "rate", "says"),
    [
        (jfk_clip(0.0, 3.0), RATE, "is 3.0 s long; use 6-10 s of one person speaking"),
        (jfk_clip(0.0, 8.0, rate=8000), 8000, "is sampled at 8000 Hz; record at 16000 Hz"),
        (np.clip(jfk_clip(0.0, 8.0) * 40, -1, 1), RATE, "clips: "),
        (np.zeros(RATE * 8, np.float32), RATE, "is mostly silence: 0% of it is speech"),
        (jfk_clip(0.0, 8.0) * 0.01, RATE, "is mostly silence"),  # far too quiet
    ],
    ids=["short", "low rate", "clipped", "silent", "quiet"],
)
def test_a_poor_reference_is_refused_with_the_reason(
    audio: np.ndarray, rate: int, says: str
) -> None:
    with pytest.raises(ReferenceError, match=r"ref\.wav") as err:
        check_reference(audio.astype(np.float32), rate, name="ref.wav")
    assert says in str(err.value)


def test_voices_are_stored_with_the_voicepack(tmp_path: Path) -> None:
    latents = {"gpt_cond_latent": np.ones((1, 4, 2), np.float32), "speaker_embedding": np.zeros(3)}
    path = save_voice(tmp_path, "ana", latents)
    assert path == tmp_path / "voices" / "ana.npz"
    assert voice_names(tmp_path) == ["ana"]
    loaded = load_voice(tmp_path, "ana")
    assert np.array_equal(loaded["gpt_cond_latent"], latents["gpt_cond_latent"])
    assert not list((tmp_path / "voices").glob("*.part")), "no temporary file is left"
    with pytest.raises(ValueError, match="voice name 'a/b' is invalid"):
        check_name("a/b")
