"""Signed, short-lived tokens for the orchestrator's ports (docs/security.md).

A JWT (HS256, PyJWT) signed with the orchestrator's ``auth.token_secret``: ``sub`` is
who the client is (its quotas count per ``sub``), ``exp`` when it stops working, and
``aud`` says it is for a voicectl orchestrator, so a token minted for another service
with the same secret is refused. Static ``auth.tokens`` stay for services; a signed
token is what a backend hands a browser for one conversation: it expires on its own,
and nothing needs to be revoked. Pure: the clock is a parameter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

AUDIENCE = "voicectl-orchestrator"
ALGORITHM = "HS256"
MIN_SECRET_CHARS = 32  # HS256 wants 256 bits of key: `openssl rand -hex 32` gives 64 chars
DEFAULT_TTL_S = 900  # 15 minutes, as LiveKit's connection details give
MAX_TTL_S = 86_400
LEEWAY_S = 5  # clocks of the minting backend and the orchestrator may differ a little
MAX_IDENTITY_CHARS = 128
SECRET_ENV = "VOICECTL_AUTH__TOKEN_SECRET"  # the orchestrator's key, as its env names it


class TokenRejected(ValueError):
    """A signed token that does not open the orchestrator; the message says why and is
    safe to show the client (it never echoes the token)."""


@dataclass(frozen=True)
class Claims:
    identity: str  # ``sub``
    expires_at: float  # ``exp``, seconds since the epoch


def looks_signed(token: str) -> bool:
    """A JWT is three base64url parts; a static token is one opaque string."""
    return token.count(".") == 2


def mint(
    secret: str, identity: str, *, ttl_s: int = DEFAULT_TTL_S, now: float | None = None
) -> str:
    """A token for ``identity`` that works for ``ttl_s`` seconds (10..86400)."""
    if len(secret) < MIN_SECRET_CHARS:
        raise ValueError(f"the token secret must be {MIN_SECRET_CHARS}+ characters")
    if not identity.strip() or len(identity) > MAX_IDENTITY_CHARS:
        raise ValueError(f"identity must be 1..{MAX_IDENTITY_CHARS} characters")
    if not 10 <= ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl must be 10..{MAX_TTL_S} seconds, got {ttl_s}")
    issued = int(time.time() if now is None else now)
    claims = {"sub": identity, "aud": AUDIENCE, "iat": issued, "exp": issued + ttl_s}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str, *, now: float | None = None) -> Claims:
    """The claims of a valid token; TokenRejected (expired, bad signature...) otherwise.

    Only HS256 is accepted (never ``none``, never an algorithm the token picks), and
    ``sub``, ``aud``, ``exp`` and ``iat`` must all be there.
    """
    at = time.time() if now is None else now
    try:
        # PyJWT checks exp against its own clock; ours is checked below, with the leeway.
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], audience=AUDIENCE,
            options={"require": ["sub", "aud", "exp", "iat"], "verify_exp": False,
                     "verify_iat": False},
        )  # fmt: skip
    except jwt.InvalidAudienceError:
        raise TokenRejected("the token is not for a voicectl orchestrator") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenRejected(f"the token has no {exc.claim!r} claim") from None
    except jwt.InvalidSignatureError:
        raise TokenRejected("the token's signature is not valid") from None
    except jwt.InvalidTokenError:
        raise TokenRejected("the token is not a valid signed token") from None
    identity, expires, issued = claims["sub"], claims["exp"], claims["iat"]
    if not isinstance(identity, str) or not identity or len(identity) > MAX_IDENTITY_CHARS:
        raise TokenRejected(f"the token's 'sub' must be 1..{MAX_IDENTITY_CHARS} characters")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (expires, issued)):
        raise TokenRejected("the token's 'exp' and 'iat' must be numbers")
    if expires - issued > MAX_TTL_S:
        raise TokenRejected(f"the token lives over {MAX_TTL_S} s; mint a shorter one")
    if at > expires + LEEWAY_S:
        raise TokenRejected("the token has expired; get a new one")
    if issued > at + LEEWAY_S:
        raise TokenRejected("the token is issued in the future; check the clocks")
    return Claims(identity=identity, expires_at=float(expires))
