"""One way to open a conversation, whatever the orchestrator's transport: the URL's
scheme picks it (``ws://``: the WebSocket protocol; ``http://``: the ``--web`` WebRTC
endpoint), and both clients answer to the same calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias, Unpack

from voicectl.talk.client import ClientOptions, TalkClient

if TYPE_CHECKING:  # aiortc loads only for a WebRTC URL
    from voicectl.talk.rtc_client import RtcTalkClient

Client: TypeAlias = "TalkClient | RtcTalkClient"
WEBRTC_SCHEMES = ("http://", "https://")


def is_webrtc(url: str) -> bool:
    return url.startswith(WEBRTC_SCHEMES)


def talk_client(url: str, **options: Unpack[ClientOptions]) -> Client:
    """A client for ``url``; enter it (``async with``) to connect."""
    if is_webrtc(url):
        from voicectl.talk.rtc_client import RtcTalkClient

        return RtcTalkClient(url, **options)
    return TalkClient(url, **options)
