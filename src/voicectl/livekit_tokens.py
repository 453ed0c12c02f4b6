"""Credentials and access tokens for a LiveKit server (docs/webrtc.md, "LiveKit").

One place for what ``voicectl token``, the orchestrator's connection-details endpoint,
its agent and ``talk --url livekit://`` all need: the server's URL, the API key and
secret (flags or config first, then LiveKit's own ``LIVEKIT_API_KEY`` /
``LIVEKIT_API_SECRET``, as the ``lk`` CLI and LiveKit's SDKs read them), and tokens
signed with them (livekit-api). Nothing here opens a connection.
"""

from __future__ import annotations

import datetime
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import urlsplit

API_KEY_ENV = "LIVEKIT_API_KEY"
API_SECRET_ENV = "LIVEKIT_API_SECRET"
URL_ENV = "LIVEKIT_URL"
SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss", "livekit": "ws",
           "livekits": "wss"}  # fmt: skip
DEFAULT_TTL = datetime.timedelta(minutes=15)  # what agent-starter-react's endpoint gives
MAX_TTL = datetime.timedelta(hours=24)


LIVEKIT_EXTRA_HINT = "uv sync --extra livekit (with pip: pip install 'voicectl[livekit]')"


class LiveKitConfigError(ValueError):
    """The LiveKit URL, key or secret is missing or malformed, or the extra is missing."""


def require_livekit() -> None:
    """LiveKit's SDK (rtc) and server API are importable, else a LiveKitConfigError that
    says how to install them."""
    try:
        import livekit.api
        import livekit.rtc  # noqa: F401
    except ImportError as exc:
        message = f"LiveKit needs the livekit extra ({exc}): {LIVEKIT_EXTRA_HINT}"
        raise LiveKitConfigError(message) from None


class ConnectionDetails(TypedDict):
    """The JSON LiveKit's agent-starter-react asks its connection-details endpoint for."""

    serverUrl: str
    roomName: str
    participantName: str
    participantToken: str


def server_url(url: str) -> str:
    """``url`` as the ws:// or wss:// address LiveKit's SDKs connect to (``http``,
    ``livekit`` and ``livekits`` schemes are accepted too); the path is kept."""
    parts = urlsplit(url.strip())
    scheme = SCHEMES.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise LiveKitConfigError(
            f"livekit url must be ws://HOST:PORT or wss://HOST (http(s):// and livekit(s):// "
            f"are read the same way), got {url!r}"
        )
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class LiveKitCredentials:
    """A LiveKit server and the API key pair that signs its tokens."""

    url: str
    api_key: str
    api_secret: str

    @classmethod
    def resolve(
        cls, url: str, api_key: str = "", api_secret: str = "",
        env: Mapping[str, str] | None = None,
    ) -> LiveKitCredentials:  # fmt: skip
        """Given values first, then ``LIVEKIT_*``; the error names what is missing."""
        environ = os.environ if env is None else env
        url = url or environ.get(URL_ENV, "")
        if not url:
            raise LiveKitConfigError(f"no LiveKit server: give its URL (or set {URL_ENV})")
        key = api_key or environ.get(API_KEY_ENV, "")
        secret = api_secret or environ.get(API_SECRET_ENV, "")
        missing = [name for name, value in (("api key", key), ("api secret", secret)) if not value]
        if missing:
            raise LiveKitConfigError(
                f"the LiveKit {' and '.join(missing)} must be given (the command's flags, the "
                f"orchestrator's livekit.api_key / livekit.api_secret, or {API_KEY_ENV} / "
                f"{API_SECRET_ENV})"
            )
        return cls(server_url(url), key, secret)

    def user_token(
        self, room: str, identity: str, *, name: str = "",
        ttl: datetime.timedelta = DEFAULT_TTL, agent_name: str = "", metadata: str = "",
    ) -> str:  # fmt: skip
        """A token to join ``room`` as ``identity``: publish, subscribe, send data.
        ``agent_name`` asks the server to dispatch that named agent when the room opens;
        ``metadata`` is the participant's (the agent reads the voice asked for there)."""
        require_livekit()
        from livekit import api

        check_name("room", room)
        check_name("identity", identity)
        if not datetime.timedelta(seconds=10) <= ttl <= MAX_TTL:
            raise LiveKitConfigError(f"ttl must be 10 s..24 h, got {ttl}")
        token = (
            api.AccessToken(self.api_key, self.api_secret)
            .with_identity(identity)
            .with_name(name or identity)
            .with_ttl(ttl)
            .with_metadata(metadata)
            .with_grants(api.VideoGrants(room_join=True, room=room, can_publish=True,
                                         can_subscribe=True, can_publish_data=True))
        )  # fmt: skip
        if agent_name:
            dispatch = api.RoomAgentDispatch(agent_name=agent_name)
            token = token.with_room_config(api.RoomConfiguration(agents=[dispatch]))
        return token.to_jwt()

    def agent_token(self) -> str:
        """The token an agent worker registers with (``/agent``, the Agents protocol)."""
        require_livekit()
        from livekit import api

        return (
            api.AccessToken(self.api_key, self.api_secret)
            .with_grants(api.VideoGrants(agent=True))
            .to_jwt()
        )

    def connection_details(
        self, *, public_url: str = "", agent_name: str = "", room: str = "", identity: str = ""
    ) -> ConnectionDetails:
        """A fresh room and user, and the token that joins them (agent-starter-react's
        ``/api/connection-details`` answer); ``public_url`` is what browsers reach."""
        room = room or f"voice_room_{secrets.token_hex(4)}"
        identity = identity or f"voice_user_{secrets.token_hex(4)}"
        return {
            "serverUrl": server_url(public_url) if public_url else self.url,
            "roomName": room,
            "participantName": identity,
            "participantToken": self.user_token(room, identity, agent_name=agent_name),
        }


def check_name(field: str, value: str) -> str:
    """Room names and identities: 1..128 printable characters, no spaces or slashes."""
    ok = 0 < len(value) <= 128 and value.isprintable() and not any(c in value for c in " /?#")
    if not ok:
        raise LiveKitConfigError(
            f"{field} must be 1..128 printable characters without spaces, '/', '?' or '#', "
            f"got {value!r}"
        )
    return value
