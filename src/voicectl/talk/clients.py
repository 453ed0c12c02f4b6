"""One way to open a conversation, whatever the orchestrator's transport: the URL's
scheme picks it (``ws://``: the WebSocket protocol; ``http://``: the ``--web`` WebRTC
endpoint), and both clients answer to the same calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from voicectl.talk.client import TalkClient

if TYPE_CHECKING:  # aiortc loads only for a WebRTC URL
    from voicectl.talk.rtc_client import RtcTalkClient

Client: TypeAlias = "TalkClient | RtcTalkClient"
WEBRTC_SCHEMES = ("http://", "https://")


def is_webrtc(url: str) -> bool:
    return url.startswith(WEBRTC_SCHEMES)


def talk_client(
    url: str,
    *,
    input_sample_rate: int = 16000,
    output_sample_rate: int = 24000,
    model_id: str = "",
    voice: str = "",
    open_timeout: float = 10.0,
    token: str | None = None,
) -> Client:
    """A client for ``url``; enter it (``async with``) to connect."""
    kind: type[TalkClient] | type[RtcTalkClient] = TalkClient
    if is_webrtc(url):
        from voicectl.talk.rtc_client import RtcTalkClient

        kind = RtcTalkClient
    return kind(
        url, input_sample_rate=input_sample_rate, output_sample_rate=output_sample_rate,
        model_id=model_id, voice=voice, open_timeout=open_timeout, token=token,
    )  # fmt: skip
