"""One way to open a conversation, whatever the orchestrator's transport: the URL's
scheme picks it (``ws://``: the WebSocket protocol; ``http://``: the ``--web`` WebRTC
endpoint; ``livekit://``: a room of a LiveKit server the orchestrator serves as its
agent), and every client answers to the same calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias, Unpack

from voicectl.livekit_tokens import require_livekit
from voicectl.talk.client import ClientOptions, TalkClient

if TYPE_CHECKING:  # aiortc loads only for a WebRTC URL, livekit for a LiveKit one
    from voicectl.talk.livekit_client import LiveKitTalkClient
    from voicectl.talk.rtc_client import RtcTalkClient

Client: TypeAlias = "TalkClient | RtcTalkClient | LiveKitTalkClient"
WEBRTC_SCHEMES = ("http://", "https://")
LIVEKIT_SCHEMES = ("livekit://", "livekits://")


def is_webrtc(url: str) -> bool:
    return url.startswith(WEBRTC_SCHEMES)


def transport_of(url: str) -> str:
    """websocket, webrtc or livekit: what a client of ``url`` speaks."""
    if url.startswith(LIVEKIT_SCHEMES):
        return "livekit"
    return "webrtc" if is_webrtc(url) else "websocket"


def talk_client(url: str, **options: Unpack[ClientOptions]) -> Client:
    """A client for ``url``; enter it (``async with``) to connect."""
    if url.startswith(LIVEKIT_SCHEMES):
        require_livekit()  # a clear error without the livekit extra
        from voicectl.talk.livekit_client import LiveKitTalkClient

        return LiveKitTalkClient(url, **options)
    if is_webrtc(url):
        from voicectl.talk.rtc_client import RtcTalkClient

        return RtcTalkClient(url, **options)
    return TalkClient(url, **options)
