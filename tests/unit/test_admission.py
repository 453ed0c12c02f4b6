"""Who may open a conversation: token and Origin checks at the WebSocket handshake."""

from __future__ import annotations

from http import HTTPStatus

from voicectl.config_layers import is_loopback
from voicectl.orchestrator.admission import Admission

TOKEN = "conversation-token-0123"
HOST = {"Host": "127.0.0.1:8765"}


def status(admission: Admission, headers: dict[str, str], path: str = "/") -> HTTPStatus | None:
    refusal = admission.decide(headers, path)
    return None if refusal is None else refusal.status


def test_no_configuration_admits_clients_and_same_origin_pages_only() -> None:
    open_door = Admission()
    assert status(open_door, HOST) is None  # a CLI client sends no Origin
    assert status(open_door, {**HOST, "Origin": "http://127.0.0.1:8765"}) is None
    evil = {**HOST, "Origin": "https://evil.example"}
    assert status(open_door, evil) == HTTPStatus.FORBIDDEN  # cross-site WebSocket hijacking


def test_an_allow_list_of_origins() -> None:
    listed = Admission(allowed_origins=("https://app.example",))
    assert status(listed, {**HOST, "Origin": "https://app.example"}) is None
    assert status(listed, {**HOST, "Origin": "http://127.0.0.1:8765"}) == HTTPStatus.FORBIDDEN
    assert status(Admission(allowed_origins=("*",)), {"Origin": "https://any.example"}) is None


def test_tokens_by_header_or_query() -> None:
    guarded = Admission(tokens=(TOKEN, "second-token-0123456"))
    assert status(guarded, HOST) == HTTPStatus.UNAUTHORIZED
    assert status(guarded, {**HOST, "Authorization": f"Bearer {TOKEN}"}) is None
    assert status(guarded, HOST, "/?token=second-token-0123456") is None  # browsers
    assert status(guarded, {**HOST, "Authorization": "Bearer nope"}) == HTTPStatus.UNAUTHORIZED
    assert status(guarded, {**HOST, "Authorization": f"Basic {TOKEN}"}) == HTTPStatus.UNAUTHORIZED
    refusal = guarded.decide(HOST, "/")
    assert refusal is not None
    assert "VOICECTL_ORCHESTRATOR_TOKEN" in refusal.reason


def test_a_good_token_does_not_excuse_a_foreign_page() -> None:
    guarded = Admission(tokens=(TOKEN,))
    headers = {**HOST, "Origin": "https://evil.example", "Authorization": f"Bearer {TOKEN}"}
    assert status(guarded, headers) == HTTPStatus.FORBIDDEN


def test_loopback_hosts() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "[::1]", "localhost", "127.1.2.3"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.5", "::", "example.com"))
