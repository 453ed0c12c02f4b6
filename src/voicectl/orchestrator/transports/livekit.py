"""The LiveKit transport: one user in a LiveKit room, through a LiveKit server (SFU).

The agent is a participant of the room (voicectl.orchestrator.livekit_agent puts it
there). It subscribes to the user's first audio track, resampled by LiveKit's SDK to
20 ms PCM16 frames at the session's input rate, and publishes the reply as an audio
track fed from an ``AudioSource``, which plays out in real time and can be cleared on
barge-in. Events are the WebSocket protocol's JSON (voicectl.orchestrator.events),
sent to the user alone as reliable data packets on the ``events`` topic; the user's
messages (text turns) come back on the same topic.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import suppress

from livekit import rtc

from voicectl.orchestrator.events import Error, ServerEvent, to_json
from voicectl.orchestrator.transport import AudioIn, BadInput, Inbound, SessionSettings, started
from voicectl.orchestrator.transports.inbox import Inbox
from voicectl.orchestrator.transports.websocket import (
    MAX_QUEUED_AUDIO_FRAMES,
    MAX_QUEUED_EVENTS,
    parse_message,
)

log = logging.getLogger(__name__)

EVENTS_TOPIC = "events"
FRAME_MS = 20
# The AudioSource's own queue: the pacer keeps it near empty, and what is queued is
# what a barge-in must clear, so a short one (the SDK's default is 1 s).
SOURCE_QUEUE_MS = 100


def is_user(participant: rtc.RemoteParticipant) -> bool:
    """A person (or ``talk``), not another agent, an egress or an ingress."""
    return bool(participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD)


class LiveKitTransport:
    """``user`` in ``room`` as the session's Transport; the room is connected already.

    Call ``await publish()`` before the session runs: it publishes the reply track.
    """

    # The AudioSource plays on its own clock and LiveKit's client has a jitter buffer.
    pacer_lookahead_frames: int | None = 1

    def __init__(
        self,
        room: rtc.Room,
        user: rtc.RemoteParticipant,
        settings: SessionSettings,
        *,
        throttle: Callable[[], str | None] | None = None,
    ) -> None:
        self.room = room
        self.user = user
        self.settings = settings
        self._throttle = throttle
        self.source = rtc.AudioSource(settings.output_sample_rate, 1, queue_size_ms=SOURCE_QUEUE_MS)
        self._samples = settings.output_sample_rate * FRAME_MS // 1000
        self.inbox = Inbox(self._disconnect)
        self._audio: deque[bytes] = deque()
        self._events: deque[str] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._mic: rtc.AudioStream | None = None
        self.frames_played = 0
        self._publication: rtc.LocalTrackPublication | None = None
        self._handlers: list[tuple[str, Callable[..., None]]] = [
            ("track_subscribed", self._on_track), ("data_received", self._on_data),
            ("participant_disconnected", self._on_left), ("disconnected", self._on_disconnected),
        ]  # fmt: skip
        for event, handler in self._handlers:
            room.on(event, handler)  # type: ignore[arg-type]

    async def publish(self) -> None:
        """Publish the reply track, hear a microphone already there, say ``started``."""
        track = rtc.LocalAudioTrack.create_audio_track("voicectl-reply", self.source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        self._publication = await self.room.local_participant.publish_track(track, options)
        self._tasks.append(asyncio.create_task(self._write(), name="livekit-out"))
        for publication in self.user.track_publications.values():
            if isinstance(publication.track, rtc.RemoteAudioTrack):
                self._on_track(publication.track, publication, self.user)
        self.send_event(started(self.settings))

    # ---------------------------------------------------------------- inbound

    def _on_track(
        self, track: rtc.Track, publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:  # fmt: skip
        if participant.identity != self.user.identity or self._mic is not None:
            return  # one microphone: the user's first audio track
        if not isinstance(track, rtc.RemoteAudioTrack):
            return
        self._mic = rtc.AudioStream(
            track, sample_rate=self.settings.input_sample_rate, num_channels=1,
            frame_size_ms=FRAME_MS,
        )  # fmt: skip
        self._tasks.append(asyncio.create_task(self._read_mic(self._mic), name="livekit-mic"))

    async def _read_mic(self, stream: rtc.AudioStream) -> None:
        async for event in stream:
            self.inbox.put(AudioIn(bytes(event.frame.data)))

    def _on_data(self, packet: rtc.DataPacket) -> None:
        sender = packet.participant
        if sender is None or sender.identity != self.user.identity:
            return
        if packet.topic != EVENTS_TOPIC:
            return  # the room's other traffic (chat, transcription streams) is not ours
        limited = self._throttle() if self._throttle else None
        if limited is not None:
            message: Inbound = BadInput("rate_limited", limited)
        else:
            try:
                message = parse_message(packet.data.decode(), input_frame_bytes=0)
            except UnicodeDecodeError:
                message = BadInput("bad_json", "send events as UTF-8 JSON text")
        self.inbox.received(message)

    def _on_left(self, participant: rtc.RemoteParticipant) -> None:
        if participant.identity == self.user.identity:
            self._end()

    def _on_disconnected(self, *_: object) -> None:
        self._end()

    def _end(self) -> None:
        """The user is gone: ``incoming`` ends once it has read what came before."""
        if self.inbox.end():
            self._wake.set()

    def incoming(self) -> AsyncIterator[Inbound]:
        return self.inbox.messages()

    # --------------------------------------------------------------- outbound

    def send_audio(self, pcm: bytes) -> None:
        if len(self._audio) >= MAX_QUEUED_AUDIO_FRAMES:
            self._disconnect("the reply track is not being played")
            return
        self._audio.append(pcm)
        self._wake.set()

    def send_event(self, event: ServerEvent) -> None:
        if len(self._events) >= MAX_QUEUED_EVENTS:
            self._disconnect("client is not reading events")
            return
        self._events.append(to_json(event))
        self._wake.set()

    async def _write(self) -> None:
        """One writer keeps order: events first (they overtake audio), then frames."""
        while not self.inbox.closed:
            if not self._events and not self._audio:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._events:
                await self._publish(self._events.popleft())
                continue
            pcm = self._audio.popleft()
            frame = rtc.AudioFrame(pcm, self.settings.output_sample_rate, 1, self._samples)
            await self.source.capture_frame(frame)  # waits while the source queue is full
            self.frames_played += 1

    async def _publish(self, text: str) -> None:
        try:
            await self.room.local_participant.publish_data(
                text, reliable=True, topic=EVENTS_TOPIC,
                destination_identities=[self.user.identity],
            )  # fmt: skip
        except Exception as exc:  # the room is going away
            log.debug("event not sent: %s", exc)

    def discard_pending_audio(self) -> int:
        """Frames not yet handed to the source, and those the source still holds."""
        queued = len(self._audio) + round(self.source.queued_duration * 1000 / FRAME_MS)
        self._audio.clear()
        self.source.clear_queue()
        return queued

    def _disconnect(self, reason: str) -> None:
        """Tell the user why (while the room still carries it), then leave; the session ends."""
        if self.inbox.closed:
            return
        log.warning("closing LiveKit session %s: %s", self.settings.session_id, reason)
        self._events.clear()
        self._events.append(to_json(Error(code="closed", message=reason)))
        self._wake.set()
        self._end()

    async def close(self, reason: str = "") -> None:
        """End the session; the room stays the agent's (livekit_agent.py may hold the next
        session in it), so this unpublishes the reply track rather than leaving."""
        self._end()
        if self._events:  # the last word (an error that closed it) goes out first
            await self._publish(self._events.popleft())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for event, handler in self._handlers:
            with suppress(Exception):
                self.room.off(event, handler)  # type: ignore[arg-type]
        self._handlers.clear()
        if self._mic is not None:
            with suppress(Exception):
                await self._mic.aclose()
            self._mic = None
        publication, self._publication = self._publication, None
        if publication is not None and self.room.isconnected():
            with suppress(Exception):
                await self.room.local_participant.unpublish_track(publication.sid)
        with suppress(Exception):
            await self.source.aclose()
