"""What a client whose reply arrives as a media track does (WebRTC, LiveKit).

A track cannot be taken back as a WebSocket's queued frames can, so on ``clear`` such
a client mutes what still arrives until the reply resumes or the next one starts, as
the browser page does. ``heard`` keeps, for every 20 ms of the track, when it arrived
and whether it carried sound, so benches can time what a listener hears.
"""

from __future__ import annotations

import time
from typing import Unpack

import numpy as np

from voicectl.orchestrator import events as ev
from voicectl.talk.client import ClientOptions, ConversationClient

AUDIBLE = (ev.ReplyStarted, ev.ReplyResumed)
# A frame whose peak is at most this is silence: decoders and resamplers (LiveKit's)
# leave +-1 of noise where the sender sent zeros. 8 (-72 dBFS) is just above that noise
# and far below speech (a voice is near -30 dBFS).
SILENT_PEAK = 8
QUIET = (ev.Clear, ev.ReplyDone, ev.ReplyStopped)


class TrackClient(ConversationClient):
    """A ConversationClient fed 20 ms reply frames by a track and events as JSON text."""

    def __init__(self, url: str, **options: Unpack[ClientOptions]) -> None:
        super().__init__(url, **options)
        self.heard: list[tuple[float, bool]] = []  # (arrival, carried sound) per 20 ms
        self._muted = False
        self._in_reply = False

    def on_server_event(self, event: ev.ServerEvent) -> None:
        """The speaker and the mute follow the server's events."""
        if isinstance(event, ev.Clear):
            self.playback.clear(None)  # what is queued here is dropped, as the page mutes
        elif isinstance(event, ev.ReplyStarted):
            self.playback.start_reply()
        if isinstance(event, AUDIBLE):
            self._muted, self._in_reply = False, True
        elif isinstance(event, QUIET):
            self._muted, self._in_reply = isinstance(event, ev.Clear), False

    def hear(self, pcm: bytes) -> None:
        """One 20 ms frame of the reply track at the output rate."""
        samples = np.frombuffer(pcm, dtype="<i2")
        sound = samples.size > 0 and int(np.abs(samples).max()) > SILENT_PEAK
        self.heard.append((time.perf_counter(), sound and not self._muted))
        if self._muted or not (sound or self._in_reply):
            return  # muted after clear, or the track's idle silence
        self.audio_frames += 1
        self.playback.receive(pcm)
        self._changed.set()
