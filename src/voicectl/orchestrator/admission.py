"""Who may open a conversation: a bearer token and the page's Origin, at the handshake.

Pure: ``Admission.decide`` reads the request's headers and path and says whether to
refuse it, with an HTTP status, before a session (or any model work) exists.

- Origin. Browsers send it, other clients do not. No Origin: allowed. Otherwise it must
  be in ``allowed_origins`` (``*`` allows any), or, with no list, the page must come
  from the host it connects to (same origin): a page on another site cannot drive a
  user's local agent (cross-site WebSocket hijacking).
- Token. With ``tokens`` set, ``Authorization: Bearer TOKEN``, or ``?token=TOKEN`` for
  browsers (which cannot set headers on a WebSocket), must be one of them.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from voicectl.tokens import ORCHESTRATOR_TOKEN_ENV


@dataclass(frozen=True)
class Refusal:
    status: HTTPStatus
    reason: str


@dataclass(frozen=True)
class Admission:
    tokens: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()

    def decide(self, headers: Mapping[str, str], path: str) -> Refusal | None:
        """None to accept the handshake; else the status and a reason for the client."""
        origin = headers.get("Origin")
        if origin is not None and not self._origin_ok(origin, headers.get("Host", "")):
            return Refusal(
                HTTPStatus.FORBIDDEN,
                f"origin {origin[:200]!r} is not allowed; list it in auth.allowed_origins",
            )
        if not self.tokens:
            return None
        presented = self.presented_token(headers, path)
        if presented is None:
            return Refusal(
                HTTPStatus.UNAUTHORIZED,
                "this orchestrator needs a token: send 'Authorization: Bearer TOKEN' or "
                f"?token=TOKEN (voicectl talk sends {ORCHESTRATOR_TOKEN_ENV})",
            )
        if not any(hmac.compare_digest(presented.encode(), t.encode()) for t in self.tokens):
            return Refusal(HTTPStatus.UNAUTHORIZED, "the token is not valid")
        return None

    def presented_token(self, headers: Mapping[str, str], path: str) -> str | None:
        """The token a handshake carries (header first, then ``?token=``), if any."""
        return _bearer(headers.get("Authorization")) or _query_token(path)

    def _origin_ok(self, origin: str, host: str) -> bool:
        if "*" in self.allowed_origins or origin in self.allowed_origins:
            return True
        if self.allowed_origins:
            return False
        return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


def _bearer(value: str | None) -> str | None:
    scheme, _, token = (value or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _query_token(path: str) -> str | None:
    values = parse_qs(urlsplit(path).query).get("token", [])
    return values[0] if values and values[0] else None
