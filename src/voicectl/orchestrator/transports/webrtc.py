"""The WebRTC transport: the browser's microphone and the reply as Opus audio tracks,
events as JSON on a data channel (aiortc on the server; no SFU in between).

The page offers one audio track (its microphone) and a data channel named
``events``; the answer adds the reply track. Audio arrives as 48 kHz Opus and is
resampled to 20 ms PCM16 frames at the session's input rate. The reply track plays
whatever the session's pacer hands over and silence in between, on its own real-time
clock, so the browser hears one continuous track. Events use the WebSocket
protocol's JSON (voicectl.orchestrator.events), so a page speaks both.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection, RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError

from voicectl.audio.frames import frame_bytes
from voicectl.orchestrator.events import Error, ServerEvent, to_json
from voicectl.orchestrator.transport import AudioIn, BadInput, Inbound, SessionSettings, started
from voicectl.orchestrator.transports.inbox import Inbox
from voicectl.orchestrator.transports.websocket import (
    MAX_QUEUED_AUDIO_FRAMES,
    MAX_QUEUED_EVENTS,
    parse_message,
)

log = logging.getLogger(__name__)

RTC_SAMPLE_RATE = 48000  # Opus in WebRTC: the reply is produced at this rate, no resampling
EVENTS_CHANNEL = "events"
FRAME_S = 0.02
# Bytes the browser has not yet taken off the data channel: past this it is not reading.
MAX_CHANNEL_BACKLOG = 1 << 20
# aiortc decodes an audio packet once 4 later ones are in (80 ms, its fixed default).
# One is enough to order packets on loopback or a LAN, and the user's speech reaches
# the VAD 60 ms sooner; the audio is the same (tests/integration/test_webrtc_jitter.py).
RECEIVE_PREFETCH_FRAMES = 1
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"  # aiortc has no public setting for it


def shorten_receive_buffer(receiver: RTCRtpReceiver, prefetch: int) -> bool:
    """Make ``receiver`` decode audio after ``prefetch`` later packets instead of 4;
    False (and aiortc's default kept) when this aiortc keeps its buffer elsewhere."""
    stock = getattr(receiver, _JITTER_BUFFER, None)
    if not isinstance(stock, JitterBuffer):
        log.warning("aiortc's receive buffer moved: keeping its 80 ms default")
        return False
    setattr(receiver, _JITTER_BUFFER, JitterBuffer(capacity=stock.capacity, prefetch=prefetch))
    return True


class PacedTrack(MediaStreamTrack):
    """20 ms PCM16 frames as they are pushed, silence when there are none: the agent's
    voice here, the user's microphone in voicectl.talk.rtc_client.

    aiortc pulls ``recv`` as fast as it returns, so this track keeps real time itself
    (frame n is due at start + n * 20 ms), like aiortc's own AudioStreamTrack.
    """

    kind = "audio"

    def __init__(self, sample_rate: int = RTC_SAMPLE_RATE) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.samples = int(sample_rate * FRAME_S)
        self._silence = bytes(2 * self.samples)
        self._frames: deque[bytes] = deque()
        self._start: float | None = None
        self._index = 0
        self.frames_played = 0  # reply frames (not silence) handed to the encoder

    def push(self, pcm: bytes) -> bool:
        """Queue one frame; False when the queue is full (nothing is reading the track)."""
        if len(self._frames) >= MAX_QUEUED_AUDIO_FRAMES:
            return False
        self._frames.append(pcm)
        return True

    def discard(self) -> int:
        dropped = len(self._frames)
        self._frames.clear()
        return dropped

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._wait_turn()
        pcm = self._frames.popleft() if self._frames else self._silence
        if pcm is not self._silence:
            self.frames_played += 1
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.samples)
        frame.planes[0].update(pcm)
        frame.sample_rate = self.sample_rate
        frame.pts = self._index * self.samples
        frame.time_base = fractions.Fraction(1, self.sample_rate)
        self._index += 1
        return frame

    async def _wait_turn(self) -> None:
        """Until frame ``_index`` is due: start + index * 20 ms."""
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        await asyncio.sleep(max(0.0, self._start + self._index * FRAME_S - loop.time()))


class MicReader:
    """The browser's audio as the session's frames: resampled, mono, cut to 20 ms."""

    def __init__(self, sample_rate: int) -> None:
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        self._frame_bytes = frame_bytes(sample_rate)
        self._pending = bytearray()

    def frames(self, decoded: av.AudioFrame) -> list[bytes]:
        for out in self._resampler.resample(decoded):
            self._pending += bytes(out.planes[0])[: out.samples * 2]
        cut = len(self._pending) - len(self._pending) % self._frame_bytes
        chunk, self._pending = bytes(self._pending[:cut]), self._pending[cut:]
        n = self._frame_bytes
        return [chunk[i : i + n] for i in range(0, len(chunk), n)]


class WebRTCTransport:
    """One browser peer connection as the session's Transport.

    Made by the web server (orchestrator/web.py) once the offer is answered: the mic
    track and the data channel arrive on ``pc`` as the page sends them.
    """

    # The reply track plays on its own clock and the browser has a jitter buffer: one
    # frame ahead absorbs the pacer's lateness, and every frame more would be 20 ms of
    # delay in the track's queue.
    pacer_lookahead_frames: int | None = 1

    def __init__(
        self,
        pc: RTCPeerConnection,
        settings: SessionSettings,
        *,
        throttle: Callable[[], str | None] | None = None,
        receive_prefetch: int | None = RECEIVE_PREFETCH_FRAMES,
    ) -> None:
        """``receive_prefetch``: packets aiortc waits for before decoding one of the
        microphone's; None keeps aiortc's own (4)."""
        self.pc = pc
        self._receive_prefetch = receive_prefetch
        self.settings = settings
        self.reply = PacedTrack(settings.output_sample_rate)
        self._throttle = throttle
        self.inbox = Inbox(self._disconnect)
        self._channel: RTCDataChannel | None = None
        self._unsent: deque[str] = deque()  # events before the channel opens
        self._readers: list[asyncio.Task[None]] = []
        self._hangup: asyncio.Future[None] | None = None
        self.connected = asyncio.Event()  # ICE and DTLS are up: audio can flow
        pc.addTrack(self.reply)
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_channel)
        pc.on("connectionstatechange", self._on_state)
        self.send_event(started(settings))

    # ---------------------------------------------------------------- inbound

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio" or self._readers:
            return  # one microphone: a second audio track is not heard
        if self._receive_prefetch is not None:
            for receiver in self.pc.getReceivers():
                if receiver.track is track:
                    shorten_receive_buffer(receiver, self._receive_prefetch)
        self._readers.append(asyncio.create_task(self._read_mic(track), name="rtc-mic"))

    async def _read_mic(self, track: MediaStreamTrack) -> None:
        reader = MicReader(self.settings.input_sample_rate)
        try:
            while True:
                decoded = await track.recv()
                assert isinstance(decoded, av.AudioFrame)
                for pcm in reader.frames(decoded):
                    self.inbox.put(AudioIn(pcm))
        except MediaStreamError:  # the track ended: the peer is gone
            self._end()

    def _on_channel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_CHANNEL or self._channel is not None:
            channel.close()
            return
        self._channel = channel
        channel.on("message", self._on_message)
        channel.on("close", self._end)
        if channel.readyState == "open":
            self._flush()
        else:
            channel.on("open", self._flush)

    def _on_message(self, raw: str | bytes) -> None:
        limited = self._throttle() if isinstance(raw, str) and self._throttle else None
        if limited is not None:
            message: Inbound = BadInput("rate_limited", limited)
        elif isinstance(raw, bytes):  # audio travels on the track, never here
            message = BadInput("bad_frame", "send audio on the microphone track, not here")
        else:
            message = parse_message(raw, input_frame_bytes=0)
        self.inbox.received(message)

    def _on_state(self) -> None:
        if self.pc.connectionState == "connected":
            self.connected.set()
        if self.pc.connectionState in ("failed", "closed"):
            self._end()

    def _end(self) -> None:
        self.inbox.end()

    def incoming(self) -> AsyncIterator[Inbound]:
        return self.inbox.messages()

    # --------------------------------------------------------------- outbound

    def send_audio(self, pcm: bytes) -> None:
        if not self.reply.push(pcm):
            self._disconnect("the reply track is not being read")

    def send_event(self, event: ServerEvent) -> None:
        text = to_json(event)
        channel = self._channel
        if channel is None or channel.readyState != "open":
            if len(self._unsent) >= MAX_QUEUED_EVENTS:
                self._disconnect("client is not reading events")
                return
            self._unsent.append(text)
            return
        if channel.bufferedAmount > MAX_CHANNEL_BACKLOG:
            self._disconnect("client is not reading events")
            return
        channel.send(text)

    def _flush(self) -> None:
        channel = self._channel
        while channel is not None and channel.readyState == "open" and self._unsent:
            channel.send(self._unsent.popleft())

    def discard_pending_audio(self) -> int:
        return self.reply.discard()

    def _disconnect(self, reason: str) -> None:
        """Tell the page why (when it can still hear), then hang up; the session ends."""
        if self.inbox.closed:
            return
        log.warning("closing WebRTC session %s: %s", self.settings.session_id, reason)
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            with suppress(Exception):
                channel.send(to_json(Error(code="closed", message=reason)))
        self._end()
        self._hangup = asyncio.ensure_future(self.pc.close())

    async def close(self, reason: str = "") -> None:
        self._end()
        for task in self._readers:
            task.cancel()
        self.reply.stop()
        await self.pc.close()


def offer_sdp(body: Any) -> str:
    """The SDP of the offer request's JSON; ValueError names the field at fault."""
    if not isinstance(body, dict):
        raise ValueError('the body must be a JSON object {"type": "offer", "sdp": ...}')
    if body.get("type") != "offer":
        raise ValueError(f"type must be 'offer', got {json.dumps(body.get('type'))[:40]}")
    sdp = body.get("sdp")
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise ValueError("sdp must be the page's SDP offer (a string starting with v=0)")
    return sdp
