"""The WebRTC tracks: the reply keeps its own clock; the microphone sends what it is
given at once and fills silence only when nothing comes."""

from __future__ import annotations

import numpy as np

from voicectl.orchestrator.transports.webrtc import PacedTrack
from voicectl.talk.rtc_client import LiveTrack


def frame(value: int, samples: int) -> bytes:
    return np.full(samples, value, dtype="<i2").tobytes()


async def test_the_reply_track_plays_pushed_frames_then_silence() -> None:
    track = PacedTrack(48000)
    assert track.push(frame(7, 960))
    first, second = await track.recv(), await track.recv()
    assert first.to_ndarray().max() == 7
    assert second.to_ndarray().max() == 0  # nothing queued: silence, the stream goes on
    assert (first.pts, second.pts) == (0, 960)
    assert track.frames_played == 1
    assert track.push(frame(1, 960))
    assert track.discard() == 1  # barge-in drops what was queued


async def test_the_microphone_sends_in_order_and_fills_gaps_with_silence() -> None:
    track = LiveTrack(48000)
    for value in (1, 2, 3):
        track.push(frame(value, 960))
    got = [int((await track.recv()).to_ndarray().max()) for _ in range(4)]
    assert got == [1, 2, 3, 0]
