"""Joining two phrases of one utterance without the pause a TTS puts around each.

A TTS renders every phrase as a whole utterance, with silence before and after it.
Where the text was cut mid-clause for latency ("The quick brown fox jumps | over the
lazy dog"), those silences add up to a pause nobody would make (~150 ms with Piper).
``trim_silence`` shortens them to a word gap; it cuts only inside silence, and fades
the last few samples, so the join has no click. Pure: no I/O.
"""

from __future__ import annotations

import numpy as np

from voicectl.audio.frames import FloatAudio

SILENCE_DBFS = -50.0  # below this a sample counts as silence
KEEP_S = 0.015  # silence kept on each side of a join: ~30 ms between the words
FADE_S = 0.002


def silent_edges(audio: FloatAudio, *, threshold_dbfs: float = SILENCE_DBFS) -> tuple[int, int]:
    """Samples of silence at the start and at the end of ``audio``."""
    loud = np.flatnonzero(np.abs(audio) > 10.0 ** (threshold_dbfs / 20.0))
    if loud.size == 0:
        return audio.size, audio.size
    return int(loud[0]), int(audio.size - 1 - loud[-1])


def trim_silence(
    audio: FloatAudio, *, rate: int, head: bool, tail: bool, keep_s: float = KEEP_S
) -> FloatAudio:
    """``audio`` with its leading (``head``) and/or trailing (``tail``) silence cut to
    ``keep_s``. All-silent audio is left alone (it may be a pause on purpose)."""
    lead, trail = silent_edges(audio)
    if lead == audio.size or not (head or tail):
        return audio
    keep = int(keep_s * rate)
    start = max(0, lead - keep) if head else 0
    end = audio.size - (max(0, trail - keep) if tail else 0)
    out = audio[start:end].astype(np.float32, copy=True)
    fade = min(int(FADE_S * rate), out.size // 2)
    ramp = np.linspace(0.0, 1.0, fade, endpoint=False, dtype=np.float32)
    if head and start and fade:
        out[:fade] *= ramp
    if tail and end < audio.size and fade:
        out[-fade:] *= ramp[::-1]
    return out
