"""``TalkClient``'s interface through a LiveKit server: a user in a room, in Python.

``livekit://HOST:PORT/ROOM`` (``livekits://`` for TLS) joins ROOM on the LiveKit
server at ws://HOST:PORT, where the orchestrator (``--livekit``) is dispatched as the
agent. The user's audio goes out as a microphone track; the agent's reply track comes
back resampled to ``output_sample_rate``; events travel as data packets on the
``events`` topic. Without a token (``?token=`` or the ``token`` option: one from
``voicectl token``) it signs its own with LIVEKIT_API_KEY / LIVEKIT_API_SECRET, and
``?agent=NAME`` makes that token dispatch the agent registered as NAME (an
orchestrator's ``livekit.agent_name``) when the room opens.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from contextlib import suppress
from typing import NamedTuple, Unpack
from urllib.parse import parse_qs, urlsplit

from livekit import rtc

from voicectl.livekit_tokens import LiveKitCredentials, check_name, server_url
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.transports.livekit import EVENTS_TOPIC, FRAME_MS
from voicectl.talk.client import ClientOptions
from voicectl.talk.track_client import TrackClient


class RoomAddress(NamedTuple):
    server: str  # ws:// or wss://
    room: str
    identity: str
    token: str  # "" = sign one
    agent: str  # the agent_name a signed token dispatches; "" = the server's automatic one


def room_address(url: str) -> RoomAddress:
    """What a ``livekit://`` URL names; names left out are made up (a fresh room, a
    ``talk-`` identity), an absent token or agent is ""."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    room = parts.path.strip("/") or f"voicectl_{secrets.token_hex(4)}"
    identity = query.get("identity", [f"talk-{secrets.token_hex(4)}"])[0]
    agent = query.get("agent", [""])[0]
    check_name("room", room)
    check_name("identity", identity)
    if agent:
        check_name("agent", agent)
    token = query.get("token", [""])[0]
    return RoomAddress(server_url(f"{parts.scheme}://{parts.netloc}"), room, identity, token, agent)


AGENT = rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
# The microphone source's queue: frames are pushed in real time, so a short one
# (the SDK default is 1 s) only bounds how far a stalled caller can fall behind.
MIC_QUEUE_MS = 100


class LiveKitTalkClient(TrackClient):
    """``async with LiveKitTalkClient("livekit://127.0.0.1:7880/room") as talk: ...``."""

    def __init__(self, url: str, **options: Unpack[ClientOptions]) -> None:
        super().__init__(url, **options)
        address = room_address(url)
        self.server, self.room_name, self.identity = address.server, address.room, address.identity
        self.agent_name = address.agent
        self._access = address.token or options.get("token") or ""
        self._credentials = options.get("livekit")
        self.room = rtc.Room()
        self._mic = rtc.AudioSource(self.input_sample_rate, 1, queue_size_ms=MIC_QUEUE_MS)
        self._samples = self.input_sample_rate * FRAME_MS // 1000
        self._agent = ""
        self._reader: asyncio.Task[None] | None = None
        self.room.on("track_subscribed", self._on_track)
        self.room.on("data_received", self._on_data)
        self.room.on("participant_disconnected", self._on_left)
        self.room.on("disconnected", lambda *_: self._gone())

    def _token(self) -> str:
        if self._access:
            return self._access
        credentials = self._credentials or LiveKitCredentials.resolve(self.server)
        voice = json.dumps({"model_id": self.model_id, "voice": self.voice})
        return credentials.user_token(
            self.room_name, self.identity, agent_name=self.agent_name, metadata=voice
        )

    async def connect(self) -> None:
        token = self._token()  # LiveKitConfigError: no token and no credentials
        try:
            await asyncio.wait_for(self.room.connect(self.server, token), self.open_timeout)
        except (rtc.ConnectError, TimeoutError) as exc:
            raise ConnectionError(
                f"cannot join room {self.room_name} on {self.server}: {exc}"
            ) from None
        track = rtc.LocalAudioTrack.create_audio_track("microphone", self._mic)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await self.room.local_participant.publish_track(track, options)
        # The server dispatches the agent when the room opens; it then joins and starts.
        started = await self.wait_for(ev.Started, timeout=self.open_timeout + 30)
        self.session_id = started.event.session_id

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        with suppress(Exception):
            await self._mic.aclose()
        await self.room.disconnect()
        self._gone()

    async def send_audio(self, pcm: bytes) -> None:
        """One 20 ms frame of the user's audio; the caller keeps real time."""
        frame = rtc.AudioFrame(pcm, self.input_sample_rate, 1, self._samples)
        await self._mic.capture_frame(frame)

    async def send_raw(self, message: str) -> None:
        """To the agent (to the room while the agent is not known yet: it is the only
        one listening on this topic)."""
        if not self.room.isconnected():
            raise ConnectionError(f"not in room {self.room_name}")
        await self.room.local_participant.publish_data(
            message, reliable=True, topic=EVENTS_TOPIC,
            destination_identities=[self._agent] if self._agent else [],
        )  # fmt: skip

    # ---------------------------------------------------------------- inbound

    def _on_data(self, packet: rtc.DataPacket) -> None:
        if packet.topic != EVENTS_TOPIC:
            return
        # The agent's first packets can arrive before the room has told us who it is
        # (participant None); later ones must come from the agent.
        participant = packet.participant
        sender = participant.identity if participant is not None else ""
        if participant is not None and not self._agent and participant.kind == AGENT:
            self._agent = sender
        if not sender or sender == self._agent:
            self.receive_event(packet.data)

    def _on_track(
        self, track: rtc.Track, publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:  # fmt: skip
        if participant.kind != AGENT or self._reader is not None:
            return
        if not isinstance(track, rtc.RemoteAudioTrack):
            return
        self._agent = participant.identity
        stream = rtc.AudioStream(
            track, sample_rate=self.output_sample_rate, num_channels=1, frame_size_ms=FRAME_MS
        )
        self._reader = asyncio.create_task(self._read_reply(stream), name="livekit-reply")

    async def _read_reply(self, stream: rtc.AudioStream) -> None:
        try:
            async for event in stream:
                self.hear(bytes(event.frame.data))
        finally:
            with suppress(Exception):
                await stream.aclose()

    def _on_left(self, participant: rtc.RemoteParticipant) -> None:
        if participant.identity == self._agent:
            self._gone()  # the agent ended the session

    def _gone(self) -> None:
        self.closed.set()
        self._changed.set()
