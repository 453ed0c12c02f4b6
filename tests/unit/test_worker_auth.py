"""Who may call the worker: the pure decision behind the token interceptor."""

from __future__ import annotations

import grpc
import pytest

from voicectl.worker.auth import Credentials, bearer

TOKEN = "s" * 24
ADMIN = "a" * 24
SYNTH = "/voicectl.tts.v1.TTS/Synthesize"
LOAD = "/voicectl.tts.v1.TTS/LoadModel"
HEALTH = "/grpc.health.v1.Health/Check"


def code(credentials: Credentials, method: str, presented: str | None) -> grpc.StatusCode | None:
    denial = credentials.decide(method, presented)
    return None if denial is None else denial.code


def test_no_tokens_means_open() -> None:
    assert not Credentials().required
    assert code(Credentials(), LOAD, None) is None


@pytest.mark.parametrize(
    ("method", "presented", "expected"),
    [
        (SYNTH, None, grpc.StatusCode.UNAUTHENTICATED),
        (SYNTH, "wrong" * 5, grpc.StatusCode.UNAUTHENTICATED),
        (SYNTH, TOKEN, None),
        (SYNTH, ADMIN, None),  # the admin token opens everything
        (LOAD, TOKEN, grpc.StatusCode.PERMISSION_DENIED),
        (LOAD, None, grpc.StatusCode.UNAUTHENTICATED),
        (LOAD, ADMIN, None),
        (HEALTH, None, None),  # load balancers probe without a secret
    ],
)
def test_both_tokens(method: str, presented: str | None, expected: grpc.StatusCode | None) -> None:
    assert code(Credentials(token=TOKEN, admin_token=ADMIN), method, presented) == expected


def test_one_token_guards_everything_and_an_admin_token_alone_only_the_manager() -> None:
    only_token = Credentials(token=TOKEN)
    assert code(only_token, LOAD, TOKEN) is None
    assert code(only_token, LOAD, None) == grpc.StatusCode.UNAUTHENTICATED
    only_admin = Credentials(admin_token=ADMIN)
    assert code(only_admin, SYNTH, None) is None
    assert code(only_admin, LOAD, None) == grpc.StatusCode.UNAUTHENTICATED


def test_the_message_says_what_to_send() -> None:
    denial = Credentials(token=TOKEN, admin_token=ADMIN).decide(LOAD, TOKEN)
    assert denial is not None
    assert "LoadModel needs the worker's admin token (VOICECTL_ADMIN_TOKEN)" in denial.message
    missing = Credentials(token=TOKEN).decide(SYNTH, None)
    assert missing is not None
    assert "no token was sent" in missing.message
    assert "VOICECTL_TOKEN" in missing.message


def test_bearer_reads_the_authorization_metadata() -> None:
    assert bearer([("authorization", f"Bearer {TOKEN}")]) == TOKEN
    assert bearer([("Authorization", f"bearer  {TOKEN} ")]) == TOKEN
    assert bearer([("authorization", f"Basic {TOKEN}")]) is None
    assert bearer([("x-other", "1")]) is None
    assert bearer(None) is None
