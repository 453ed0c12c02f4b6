"""Per-client quotas: sessions at once and a message rate, on a fake clock."""

from __future__ import annotations

import pytest

from voicectl.orchestrator.quotas import ClientLimits, ClientQuotas, client_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sessions_are_counted_per_client_and_freed_on_close() -> None:
    quotas = ClientQuotas(ClientLimits(sessions=2))
    assert quotas.opened("a")
    assert quotas.opened("a")
    assert not quotas.opened("a")  # the third one
    reason = quotas.refuse_session("a")
    assert reason is not None
    assert "2 conversations open" in reason
    assert "auth.sessions_per_client" in reason
    assert quotas.opened("b")  # another client is not affected
    quotas.closed("a")
    assert quotas.refuse_session("a") is None
    assert quotas.opened("a")
    assert quotas.sessions("a") == 2


def test_zero_means_no_limit() -> None:
    quotas = ClientQuotas(ClientLimits(sessions=0, messages_per_second=0))
    assert all(quotas.opened("a") for _ in range(1000))
    assert all(quotas.allow_message("a") for _ in range(10_000))


def test_message_rate_is_a_bucket_shared_by_the_clients_sessions() -> None:
    clock = Clock()
    quotas = ClientQuotas(ClientLimits(messages_per_second=10, burst=5), clock=clock)
    quotas.opened("a")
    quotas.opened("a")
    assert [quotas.allow_message("a") for _ in range(6)] == [True] * 5 + [False]
    assert quotas.allow_message("b")  # its own bucket
    clock.now += 0.15  # one message's worth at 10/s (and a half)
    assert quotas.allow_message("a")
    assert not quotas.allow_message("a")
    clock.now += 60  # refills to the burst, not beyond
    assert sum(quotas.allow_message("a") for _ in range(20)) == 5


def test_a_client_without_sessions_leaves_no_state() -> None:
    quotas = ClientQuotas(ClientLimits(messages_per_second=1, burst=1))
    quotas.opened("a")
    assert quotas.allow_message("a")
    assert not quotas.allow_message("a")
    quotas.closed("a")
    quotas.closed("a")  # a second close is harmless
    assert quotas.sessions("a") == 0
    assert quotas.allow_message("a")  # a fresh bucket


def test_clients_are_tokens_or_addresses_and_tokens_never_appear() -> None:
    key = client_key("secret-token-0123456789", "10.0.0.7")
    assert key.startswith("token:")
    assert "secret" not in key
    assert client_key("secret-token-0123456789", "10.0.0.8") == key  # same token, same client
    assert client_key(None, "10.0.0.7") == "addr:10.0.0.7"
    with pytest.raises(ValueError, match="out of range"):
        ClientLimits(sessions=-1)


def test_audio_may_run_ahead_of_real_time_by_the_burst_then_at_the_factor() -> None:
    clock = Clock()
    meter = ClientLimits(audio_realtime_factor=1.5, audio_burst_s=1.0).audio_meter(clock)
    assert meter is not None
    assert all(meter.allow(0.02) for _ in range(50))  # one second at once
    assert not meter.allow(0.02)  # the 51st frame in the same instant
    clock.now += 1.0  # refills 1.5 s, capped at the 1 s burst
    assert sum(meter.allow(0.02) for _ in range(100)) == 50
    for _ in range(500):  # 20 ms frames every 20 ms: real time never runs short
        clock.now += 0.02
        assert meter.allow(0.02)
    assert "auth.audio_realtime_factor" in meter.refusal()
    assert "1.5x real time" in meter.refusal()


def test_no_audio_limit_means_no_meter() -> None:
    assert ClientLimits(audio_realtime_factor=0).audio_meter() is None
    with pytest.raises(ValueError, match="out of range"):
        ClientLimits(audio_burst_s=-1)
