"""LiveKit credentials, tokens and URLs: pure logic, no server (livekit_tokens.py), and
the checks of what clients send (connection-details bodies, livekit:// URLs)."""

from __future__ import annotations

import datetime

import pytest

from voicectl.livekit_tokens import (
    LiveKitConfigError,
    LiveKitCredentials,
    check_name,
    server_url,
)
from voicectl.orchestrator.config import OrchestratorConfigError, load_orchestrator_config
from voicectl.orchestrator.web import _asked_agent
from voicectl.talk.clients import transport_of

api = pytest.importorskip("livekit.api", reason="the livekit extra: uv sync --extra livekit")
SECRET = "a-secret-of-thirty-two-characters-x"


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("ws://127.0.0.1:7880", "ws://127.0.0.1:7880"),
        ("http://127.0.0.1:7880/", "ws://127.0.0.1:7880"),
        ("https://lk.example.com", "wss://lk.example.com"),
        ("livekit://127.0.0.1:7880", "ws://127.0.0.1:7880"),
        ("livekits://lk.example.com/base", "wss://lk.example.com/base"),
    ],
)
def test_server_urls_become_what_the_sdks_connect_to(given: str, url: str) -> None:
    assert server_url(given) == url


@pytest.mark.parametrize("bad", ["", "127.0.0.1:7880", "ftp://host", "ws://"])
def test_a_bad_server_url_says_what_is_allowed(bad: str) -> None:
    with pytest.raises(LiveKitConfigError, match="ws://HOST:PORT"):
        server_url(bad)


def test_given_values_come_before_livekits_own_variables() -> None:
    env = {"LIVEKIT_URL": "ws://env:1", "LIVEKIT_API_KEY": "envkey", "LIVEKIT_API_SECRET": "s"}
    given = LiveKitCredentials.resolve("ws://flag:2", "flagkey", "flagsecret", env=env)
    assert given == LiveKitCredentials("ws://flag:2", "flagkey", "flagsecret")
    assert LiveKitCredentials.resolve("", env=env) == LiveKitCredentials(
        "ws://env:1", "envkey", "s"
    )


def test_missing_credentials_name_every_place_to_put_them() -> None:
    with pytest.raises(LiveKitConfigError, match="LIVEKIT_URL"):
        LiveKitCredentials.resolve("", env={})
    with pytest.raises(LiveKitConfigError, match=r"api secret must be given.*LIVEKIT_API_SECRET"):
        LiveKitCredentials.resolve("ws://h:1", "key", env={})


def test_a_user_token_grants_one_room_and_asks_for_the_named_agent() -> None:
    credentials = LiveKitCredentials("ws://h:1", "key", SECRET)
    token = credentials.user_token(
        "demo", "alice", ttl=datetime.timedelta(minutes=5), agent_name="voicectl",
        metadata='{"voice": "x"}',
    )  # fmt: skip
    claims = api.TokenVerifier("key", SECRET).verify(token)
    assert (claims.identity, claims.video.room) == ("alice", "demo")
    assert claims.video.room_join
    assert claims.video.can_publish_data
    assert claims.metadata == '{"voice": "x"}'
    assert [a.agent_name for a in claims.room_config.agents] == ["voicectl"]
    with pytest.raises(Exception, match=r"(?i)signature"):
        api.TokenVerifier("key", "another-secret-of-thirty-two-chars").verify(token)


def test_an_agent_token_carries_the_agent_grant() -> None:
    claims = api.TokenVerifier("key", SECRET).verify(
        LiveKitCredentials("ws://h:1", "key", SECRET).agent_token()
    )
    assert claims.video.agent


def test_connection_details_are_a_fresh_room_each_time() -> None:
    credentials = LiveKitCredentials("ws://internal:7880", "key", SECRET)
    first = credentials.connection_details(public_url="wss://lk.example.com")
    second = credentials.connection_details()
    assert set(first) == {"serverUrl", "roomName", "participantName", "participantToken"}
    assert first["serverUrl"] == "wss://lk.example.com"
    assert second["serverUrl"] == "ws://internal:7880"
    assert first["roomName"] != second["roomName"]
    claims = api.TokenVerifier("key", SECRET).verify(first["participantToken"])
    assert (claims.identity, claims.video.room) == (first["participantName"], first["roomName"])


@pytest.mark.parametrize("bad", ["", "a b", "a/b", "x" * 129, "tab\there", "q?"])
def test_room_names_and_identities_are_checked(bad: str) -> None:
    with pytest.raises(LiveKitConfigError, match=r"room must be 1\.\.128 printable"):
        check_name("room", bad)


def test_token_lifetimes_are_bounded() -> None:
    credentials = LiveKitCredentials("ws://h:1", "key", SECRET)
    with pytest.raises(LiveKitConfigError, match=r"ttl must be 10 s\.\.24 h"):
        credentials.user_token("demo", "alice", ttl=datetime.timedelta(days=2))


@pytest.mark.parametrize(
    ("body", "agent"),
    [
        (None, "default"),
        ({}, "default"),
        ({"room_config": {"agents": [{"agent_name": ""}]}}, "default"),
        ({"room_config": {"agents": [{"agent_name": "helper"}]}}, "helper"),
        ({"room_config": {}}, "default"),
    ],
)
def test_agent_starter_react_bodies_pick_the_agent(body: object, agent: str) -> None:
    assert _asked_agent(body, "default") == agent


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([1], "JSON object"),
        ({"room_config": {"agents": {"agent_name": "x"}}}, "room_config.agents must be a list"),
        ({"room_config": {"agents": [{"agent_name": 3}]}}, "agent_name must be a string"),
    ],
)
def test_bad_bodies_name_the_field(body: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        _asked_agent(body, "")


@pytest.mark.parametrize(
    ("url", "transport"),
    [
        ("ws://h:1", "websocket"),
        ("http://h:1", "webrtc"),
        ("livekit://h:1/room", "livekit"),
        ("livekits://h/room", "livekit"),
    ],
)
def test_a_url_names_its_transport(url: str, transport: str) -> None:
    assert transport_of(url) == transport


def test_the_config_checks_the_livekit_url() -> None:
    config = load_orchestrator_config(env={}, cli={"livekit": {"url": "http://127.0.0.1:7880"}})
    assert config.livekit.url == "ws://127.0.0.1:7880"
    with pytest.raises(OrchestratorConfigError, match=r"(?s)livekit.url.*ws://HOST:PORT"):
        load_orchestrator_config(env={}, cli={"livekit": {"url": "7880"}})


def test_livekit_addresses_give_room_and_identity() -> None:
    from voicectl.talk.livekit_client import room_address

    assert room_address("livekit://h:7880/demo?identity=bob&token=T&agent=lk-a") == (
        "ws://h:7880", "demo", "bob", "T", "lk-a",
    )  # fmt: skip
    server, room, identity, token, agent = room_address("livekits://lk.example.com")
    assert server == "wss://lk.example.com"
    assert room.startswith("voicectl_")
    assert identity.startswith("talk-")
    assert token == agent == ""
    with pytest.raises(LiveKitConfigError, match="room must be"):
        room_address("livekit://h:1/a b")
    with pytest.raises(LiveKitConfigError, match="agent must be"):
        room_address("livekit://h:1/r?agent=a/b")
