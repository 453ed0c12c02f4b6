"""What a browser page heard, read from its level trace (pure; no browser here).

The built-in page (orchestrator/web_page/app.js) records ``[time, rms, peak]`` for
every 10 ms of its microphone and of the reply as heard (after the page's mute), on
the AudioContext's clock, and stamps each session event on the same clock. From that:
when the reply was heard, whether playback had holes, and how long the reply kept
sounding after the user started to speak over it.

A hole is a run of exact digital silence inside a reply: the agent sends silence only
when it has no audio ready, while speech (Piper's pauses included) never decodes to
zeros, so a zero run is audio that arrived too late, not a pause in the voice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WINDOW_S = 0.01
ZERO_PEAK = 1e-6  # below any decoded speech sample: the track carried silence
# -60 dBFS: the microphone carries sound. Test microphones are digitally silent between
# utterances, so this finds where an utterance (its room noise included) begins.
SOUND_RMS = 0.001
SILENT_AFTER_S = 0.3  # the reply counts as stopped once this long silent

Level = Sequence[float]  # [time, rms, peak]


@dataclass(frozen=True)
class Heard:
    """The reply as heard between two times."""

    first_sound_s: float | None  # time of the first non-silent window
    last_sound_s: float | None
    sounding_s: float  # how long it was not digital silence
    longest_hole_s: float  # longest zero run between first and last sound


def heard(reply: Sequence[Level], start: float, end: float) -> Heard:
    """What the reply track played in [start, end)."""
    span = [w for w in reply if start <= w[0] < end]
    sounding = [i for i, w in enumerate(span) if w[2] > ZERO_PEAK]
    if not sounding:
        return Heard(None, None, 0.0, 0.0)
    first, last = sounding[0], sounding[-1]
    longest = run = 0
    for w in span[first : last + 1]:
        run = run + 1 if w[2] <= ZERO_PEAK else 0
        longest = max(longest, run)
    return Heard(
        first_sound_s=span[first][0],
        last_sound_s=span[last][0] + WINDOW_S,
        sounding_s=len(sounding) * WINDOW_S,
        longest_hole_s=longest * WINDOW_S,
    )


def sound_onset(mic: Sequence[Level], after: float) -> float | None:
    """The first microphone window at or after ``after`` that carries sound."""
    return next((w[0] for w in mic if w[0] >= after and w[1] >= SOUND_RMS), None)


def silent_from(reply: Sequence[Level], after: float) -> float | None:
    """Start of the first run of digital silence, at or after ``after``, that lasts
    SILENT_AFTER_S (the reply stopped there), or None if it never stopped."""
    need = round(SILENT_AFTER_S / WINDOW_S)
    run_start: float | None = None
    run = 0
    for w in reply:
        if w[0] < after:
            continue
        if w[2] <= ZERO_PEAK:
            run_start = w[0] if run == 0 else run_start
            run += 1
            if run >= need:
                return run_start
        else:
            run = 0
    return None


# ---------------------------------------------------- a client's (arrival, sound) trace

Frame = tuple[float, bool]  # RtcTalkClient.heard: when 20 ms arrived, whether it sounded


def first_sound(heard: Sequence[Frame], after: float) -> float | None:
    """When the first frame that carried sound arrived, at or after ``after``."""
    return next((at for at, sound in heard if at >= after and sound), None)


def quiet_from(
    heard: Sequence[Frame], after: float, hold_s: float = SILENT_AFTER_S
) -> float | None:
    """When the first run of frames without sound, at or after ``after``, that lasts
    ``hold_s`` began (the listener stopped hearing the reply), or None."""
    need = round(hold_s / 0.02)
    run_start: float | None = None
    run = 0
    for at, sound in heard:
        if at < after:
            continue
        if sound:
            run = 0
            continue
        run_start = at if run == 0 else run_start
        run += 1
        if run >= need:
            return run_start
    return None
