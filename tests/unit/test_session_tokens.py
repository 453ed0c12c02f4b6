"""Signed short-lived orchestrator tokens: what opens the door, what does not, and why."""

from __future__ import annotations

import base64
import json
from http import HTTPStatus

import jwt
import pytest

from voicectl.config_errors import shown_value
from voicectl.orchestrator.admission import Admission
from voicectl.orchestrator.config import OrchestratorConfigError, load_orchestrator_config
from voicectl.session_tokens import (
    AUDIENCE,
    MAX_TTL_S,
    SECRET_ENV,
    TokenRejected,
    looks_signed,
    mint,
    verify,
)

SECRET = "s" * 32
NOW = 1_800_000_000.0
HOST = {"Host": "127.0.0.1:8765"}


def bearer(token: str) -> dict[str, str]:
    return {**HOST, "Authorization": f"Bearer {token}"}


def test_a_minted_token_verifies_until_it_expires() -> None:
    token = mint(SECRET, "alice", ttl_s=60, now=NOW)
    assert looks_signed(token)
    claims = verify(SECRET, token, now=NOW + 30)
    assert claims.identity == "alice"
    assert claims.expires_at == NOW + 60
    assert verify(SECRET, token, now=NOW + 63).identity == "alice"  # within the leeway
    with pytest.raises(TokenRejected, match="expired"):
        verify(SECRET, token, now=NOW + 66)
    with pytest.raises(TokenRejected, match="future"):
        verify(SECRET, token, now=NOW - 60)


@pytest.mark.parametrize(
    ("claims", "algorithm", "says"),
    [
        ({"sub": "a", "aud": "livekit", "iat": NOW, "exp": NOW + 60}, "HS256", "not for"),
        ({"sub": "a", "aud": AUDIENCE, "iat": NOW}, "HS256", "'exp'"),
        ({"aud": AUDIENCE, "iat": NOW, "exp": NOW + 60}, "HS256", "'sub'"),
        ({"sub": "a", "aud": AUDIENCE, "iat": NOW, "exp": NOW + MAX_TTL_S + 1}, "HS256",
         "shorter"),
        ({"sub": "", "aud": AUDIENCE, "iat": NOW, "exp": NOW + 60}, "HS256", "'sub'"),
        ({"sub": "a", "aud": AUDIENCE, "iat": NOW, "exp": NOW + 60}, "HS384", "not a valid"),
    ],
)  # fmt: skip
def test_what_a_token_must_carry(claims: dict[str, object], algorithm: str, says: str) -> None:
    key = SECRET if algorithm == "HS256" else SECRET * 2  # long enough for HS384
    token = jwt.encode(claims, key, algorithm=algorithm)
    with pytest.raises(TokenRejected, match=says):
        verify(SECRET, token, now=NOW)


def test_another_secret_and_the_none_algorithm_are_refused() -> None:
    with pytest.raises(TokenRejected, match="signature"):
        verify(SECRET, mint("t" * 32, "alice", now=NOW), now=NOW)
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    payload = {"sub": "mallory", "aud": AUDIENCE, "iat": NOW, "exp": NOW + 60}
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=")
    unsigned = f"{header.decode()}.{body.decode()}."
    with pytest.raises(TokenRejected, match="not a valid"):
        verify(SECRET, unsigned, now=NOW)


def test_minting_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="32"):
        mint("short", "alice")
    with pytest.raises(ValueError, match="identity"):
        mint(SECRET, " ")
    with pytest.raises(ValueError, match="ttl"):
        mint(SECRET, "alice", ttl_s=MAX_TTL_S + 1)


def test_the_door_opens_for_a_signed_token_and_counts_its_user() -> None:
    door = Admission(token_secret=SECRET, clock=lambda: NOW)
    assert door.needs_token
    token = mint(SECRET, "alice", ttl_s=60, now=NOW)
    assert door.decide(bearer(token), "/") is None
    assert door.decide(HOST, f"/?token={token}") is None  # browsers
    refusal = door.decide(bearer(mint(SECRET, "bob", ttl_s=10, now=NOW - 100)), "/")
    assert refusal is not None
    assert refusal.status == HTTPStatus.UNAUTHORIZED
    assert "expired" in refusal.reason
    assert door.decide(HOST, "/") is not None  # no token at all
    # One user, however many tokens: the quotas count alice once.
    other = mint(SECRET, "alice", ttl_s=120, now=NOW)
    assert door.client_key(bearer(token), "/", "10.0.0.1") == "user:alice"
    assert door.client_key(bearer(other), "/", "10.0.0.2") == "user:alice"


def test_static_tokens_and_signed_ones_together() -> None:
    static = "static-token-0123456789"
    door = Admission(tokens=(static,), token_secret=SECRET, clock=lambda: NOW)
    assert door.decide(bearer(static), "/") is None
    assert door.decide(bearer(mint(SECRET, "carol", now=NOW)), "/") is None
    assert door.client_key(bearer(static), "/", "10.0.0.1").startswith("token:")
    # Without a secret, a JWT is just a wrong static token.
    plain = Admission(tokens=(static,))
    refusal = plain.decide(bearer(mint(SECRET, "carol", now=NOW)), "/")
    assert refusal is not None
    assert refusal.reason == "the token is not valid"
    assert Admission().client_key(bearer(static), "/", "10.0.0.1") == "addr:10.0.0.1"


def test_the_secret_comes_from_the_environment_and_never_shows() -> None:
    config = load_orchestrator_config(env={SECRET_ENV: SECRET})
    assert config.auth_token_secret == SECRET
    with pytest.raises(OrchestratorConfigError, match=r"auth.token_secret|AUTH__TOKEN_SECRET"):
        load_orchestrator_config(env={SECRET_ENV: "short"})
    assert shown_value("auth.token_secret", SECRET) == "***"
