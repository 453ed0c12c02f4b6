"""Who may open a conversation: a bearer token and the page's Origin, at the handshake.

Pure: ``Admission.decide`` reads the request's headers and path and says whether to
refuse it, with an HTTP status, before a session (or any model work) exists.

- Origin. Browsers send it, other clients do not. No Origin: allowed. Otherwise it must
  be in ``allowed_origins`` (``*`` allows any), or, with no list, the page must come
  from the host it connects to (same origin): a page on another site cannot drive a
  user's local agent (cross-site WebSocket hijacking).
- Token. With ``tokens`` or ``token_secret`` set, ``Authorization: Bearer TOKEN``, or
  ``?token=TOKEN`` for browsers (which cannot set headers on a WebSocket), must be one
  of the static tokens or a signed, unexpired token (session_tokens.py). A signed
  token's client, for the quotas, is its ``sub``.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from voicectl.orchestrator.quotas import client_key
from voicectl.session_tokens import TokenRejected, looks_signed, verify
from voicectl.tokens import ORCHESTRATOR_TOKEN_ENV


@dataclass(frozen=True)
class Refusal:
    status: HTTPStatus
    reason: str


@dataclass(frozen=True)
class Admission:
    tokens: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    token_secret: str = ""  # verifies signed tokens; empty = static tokens only
    clock: Callable[[], float] = time.time

    @property
    def needs_token(self) -> bool:
        return bool(self.tokens or self.token_secret)

    def open_to_all(self) -> Admission:
        """The same Origin rule without tokens (a CORS preflight carries none)."""
        return Admission(allowed_origins=self.allowed_origins)

    def decide(self, headers: Mapping[str, str], path: str) -> Refusal | None:
        """None to accept the handshake; else the status and a reason for the client."""
        origin = headers.get("Origin")
        if origin is not None and not self._origin_ok(origin, headers.get("Host", "")):
            return Refusal(
                HTTPStatus.FORBIDDEN,
                f"origin {origin[:200]!r} is not allowed; list it in auth.allowed_origins",
            )
        if not self.needs_token:
            return None
        presented = self.presented_token(headers, path)
        if presented is None:
            return Refusal(
                HTTPStatus.UNAUTHORIZED,
                "this orchestrator needs a token: send 'Authorization: Bearer TOKEN' or "
                f"?token=TOKEN (voicectl talk sends {ORCHESTRATOR_TOKEN_ENV})",
            )
        if any(hmac.compare_digest(presented.encode(), t.encode()) for t in self.tokens):
            return None
        if self.token_secret and looks_signed(presented):
            try:
                verify(self.token_secret, presented, now=self.clock())
            except TokenRejected as exc:
                return Refusal(HTTPStatus.UNAUTHORIZED, str(exc))
            return None
        return Refusal(HTTPStatus.UNAUTHORIZED, "the token is not valid")

    def client_key(self, headers: Mapping[str, str], path: str, remote_host: str) -> str:
        """Who counts as one client for the quotas (of an admitted request): a signed
        token's ``sub`` (one user, however many tokens it was given), a static token's
        digest, or, with no tokens at all, the address."""
        if not self.needs_token:
            return client_key(None, remote_host)
        token = self.presented_token(headers, path)
        if token and self.token_secret and looks_signed(token):
            try:
                return "user:" + verify(self.token_secret, token, now=self.clock()).identity
            except TokenRejected:
                pass  # not admitted by its signature: counted by its digest, like any token
        return client_key(token, remote_host)

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
