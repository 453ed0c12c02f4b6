"""``TalkClient``'s interface over WebRTC: what the built-in page does, in Python.

Talks to ``voicectl orchestrator --web`` (``http://HOST:PORT``): an aiortc peer
connection carrying the user's audio track and the ``events`` data channel, offered
to ``POST /api/offer``. The reply track is resampled to ``output_sample_rate`` and
played into the same ``PlaybackBuffer`` a WebSocket client uses. Like the page, it
mutes the reply from ``clear`` until the reply resumes or the next one starts, since
a WebRTC track cannot be taken back (voicectl.talk.track_client).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Unpack

import av
import httpx
import numpy as np
import soxr
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from voicectl.orchestrator import events as ev
from voicectl.orchestrator.transports.webrtc import (
    EVENTS_CHANNEL,
    FRAME_S,
    RECEIVE_PREFETCH_FRAMES,
    RTC_SAMPLE_RATE,
    MicReader,
    PacedTrack,
    shorten_receive_buffer,
)
from voicectl.talk.client import ClientOptions, HandshakeRefused
from voicectl.talk.track_client import TrackClient
from voicectl.web_tls import client_context

# A frame not pushed within this long after the previous one is sent as silence.
LATE_S = 0.03


class LiveTrack(PacedTrack):
    """A microphone: each frame goes out the moment it is pushed, since whoever pushes
    keeps real time, as a sound card does. Silence fills in only when no frame came
    within LATE_S, so the stream never stops. A clock of its own, as the reply track
    has, would hold each frame until its next tick: up to 20 ms, and more once it lags."""

    def __init__(self, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self._pushed = asyncio.Event()
        self._due: float | None = None

    def push(self, pcm: bytes) -> bool:
        accepted = super().push(pcm)
        self._pushed.set()
        return accepted

    async def _wait_turn(self) -> None:
        loop = asyncio.get_running_loop()
        if self._due is None:
            self._due = loop.time()
        if not self._frames:
            self._pushed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pushed.wait(), max(0.0, self._due - loop.time()))
        self._due = loop.time() + (LATE_S if self._frames else FRAME_S)


class RtcTalkClient(TrackClient):
    """``async with RtcTalkClient("http://127.0.0.1:8080") as talk: ...``."""

    def __init__(self, url: str, **options: Unpack[ClientOptions]) -> None:
        super().__init__(url.rstrip("/"), **options)
        self._pc = RTCPeerConnection()
        # Sent at 48 kHz: aiortc's own resampler would hold back up to a frame.
        self._mic = LiveTrack(RTC_SAMPLE_RATE)
        self._upsample = soxr.ResampleStream(
            self.input_sample_rate, RTC_SAMPLE_RATE, 1, dtype="int16"
        )
        self._unsent = bytearray()
        self._reader: asyncio.Task[None] | None = None
        self._channel = self._pc.createDataChannel(EVENTS_CHANNEL)
        self._channel.on("message", self.receive_event)
        self._channel.on("close", self._gone)
        self._pc.addTrack(self._mic)
        self._pc.on("track", self._on_track)
        self._pc.on("connectionstatechange", self._on_state)

    async def connect(self) -> None:
        await self._pc.setLocalDescription(await self._pc.createOffer())
        offer = {"type": "offer", "sdp": self._pc.localDescription.sdp,
                 "model_id": self.model_id, "voice": self.voice}  # fmt: skip
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        tls = client_context() if self.url.startswith("https:") else None
        async with httpx.AsyncClient(timeout=self.open_timeout, verify=tls or True) as http:
            response = await http.post(f"{self.url}/api/offer", json=offer, headers=headers)
        if response.status_code != 200:
            raise HandshakeRefused(response.status_code, _reason(response))
        answer = response.json()
        await self._pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        started = await self.wait_for(ev.Started, timeout=self.open_timeout + 20)
        self.session_id = started.event.session_id

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        self._mic.stop()
        await self._pc.close()
        self._gone()

    async def send_audio(self, pcm: bytes) -> None:
        """Queue one 20 ms frame of the user's audio; the track sends it in real time."""
        samples = np.frombuffer(pcm, dtype="<i2")
        self._unsent += self._upsample.resample_chunk(samples).astype("<i2").tobytes()
        width = 2 * self._mic.samples
        while len(self._unsent) >= width:
            frame, self._unsent = bytes(self._unsent[:width]), self._unsent[width:]
            if not self._mic.push(frame):
                raise ConnectionError("the microphone track is not being sent")

    async def send_raw(self, message: str) -> None:
        if self._channel.readyState != "open":
            raise ConnectionError("the events channel is not open")
        self._channel.send(message)

    # ---------------------------------------------------------------- inbound

    def _on_track(self, track: MediaStreamTrack) -> None:
        for receiver in self._pc.getReceivers():
            if receiver.track is track:
                shorten_receive_buffer(receiver, RECEIVE_PREFETCH_FRAMES)
        self._reader = asyncio.create_task(self._read_reply(track), name="rtc-reply")

    async def _read_reply(self, track: MediaStreamTrack) -> None:
        reader = MicReader(self.output_sample_rate)
        try:
            while True:
                decoded = await track.recv()
                assert isinstance(decoded, av.AudioFrame)
                for pcm in reader.frames(decoded):
                    self.hear(pcm)
        except MediaStreamError:
            self._gone()

    def _on_state(self) -> None:
        if self._pc.connectionState in ("failed", "closed"):
            self._gone()

    def _gone(self) -> None:
        self.closed.set()
        self._changed.set()


def _reason(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
        return str(body.get("message", body))
    except ValueError:
        return response.text.strip()
