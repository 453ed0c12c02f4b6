"""How much one client may use: sessions open at once, messages per second, and how
far ahead of real time one conversation's audio may run.

Pure (the clock is injected). A client is its token when the orchestrator has tokens,
else its IP address. One token handed to a misbehaving script, or one host on the LAN,
can then open only so many conversations and send only so fast, however many
connections it spreads them over; everybody else keeps their share.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ClientLimits:
    sessions: int = 32  # open at once per client; 0 = no limit
    messages_per_second: float = 20.0  # JSON messages per client, sustained; 0 = no limit
    burst: int = 40  # messages a client may send at once, above the sustained rate
    # Seconds of audio one conversation may send per second, sustained; 0 = no limit.
    audio_realtime_factor: float = 1.5
    # How far ahead of real time it may get at once (a recording sent in one go).
    audio_burst_s: float = 30.0

    def __post_init__(self) -> None:
        if (
            self.sessions < 0 or self.messages_per_second < 0 or self.burst < 1
            or self.audio_realtime_factor < 0 or self.audio_burst_s < 0
        ):  # fmt: skip
            raise ValueError(f"ClientLimits out of range: {self}")

    def audio_meter(self, clock: Callable[[], float] = time.monotonic) -> AudioMeter | None:
        """A meter for one conversation's audio, or None without a limit."""
        if not self.audio_realtime_factor:
            return None
        return AudioMeter(self.audio_realtime_factor, self.audio_burst_s, clock=clock)


class AudioMeter:
    """Audio faster than real time, bounded: each 20 ms frame costs its duration, the
    allowance refills at ``factor`` seconds a second and holds at most ``burst_s``.
    Without it one client streaming a file as fast as its link goes keeps VAD and ASR
    busy on the event loop every other conversation shares."""

    def __init__(
        self, factor: float, burst_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.factor = factor
        self.burst_s = burst_s
        self._clock = clock
        self._allowance = burst_s
        self._updated = clock()

    def allow(self, seconds: float) -> bool:
        """Take ``seconds`` of audio from the allowance; False (nothing taken) when short."""
        now = self._clock()
        refill = (now - self._updated) * self.factor
        self._allowance = min(self.burst_s, self._allowance + refill)
        self._updated = now
        # Frames are 20 ms; a hair of slack keeps float rounding from refusing one.
        if self._allowance + 1e-9 < seconds:
            return False
        self._allowance -= seconds
        return True

    def refusal(self) -> str:
        return (
            f"audio arrives faster than {self.factor:g}x real time, beyond "
            f"{self.burst_s:g} s ahead (auth.audio_realtime_factor, auth.audio_burst_seconds): "
            "this frame was dropped; send 20 ms frames at the pace they were recorded"
        )


def client_key(token: str | None, remote_host: str) -> str:
    """Who counts as one client: a digest of its token (never the token itself, which
    would end up in logs), or its address when the orchestrator has no tokens."""
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:12]
    return "addr:" + remote_host


@dataclass
class _Bucket:
    tokens: float
    updated: float


class ClientQuotas:
    """Counts sessions and meters messages per client key."""

    def __init__(
        self, limits: ClientLimits, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._sessions: dict[str, int] = {}
        self._buckets: dict[str, _Bucket] = {}

    def refuse_session(self, client: str) -> str | None:
        """Why ``client`` may not open another session now, or None."""
        limit = self.limits.sessions
        if limit and self._sessions.get(client, 0) >= limit:
            return (
                f"this client already has {limit} conversations open, the most "
                "auth.sessions_per_client allows; close one first"
            )
        return None

    def opened(self, client: str) -> bool:
        """Count a session; False (and nothing counted) when it is one too many."""
        if self.refuse_session(client) is not None:
            return False
        self._sessions[client] = self._sessions.get(client, 0) + 1
        return True

    def closed(self, client: str) -> None:
        left = self._sessions.get(client, 0) - 1
        if left > 0:
            self._sessions[client] = left
        else:
            self._sessions.pop(client, None)
            self._buckets.pop(client, None)  # a client with no session keeps no state

    def sessions(self, client: str) -> int:
        return self._sessions.get(client, 0)

    def throttle(self, client: str) -> str | None:
        """Why the client's next message is dropped (its quota is spent), or None."""
        if self.allow_message(client):
            return None
        return (
            f"more than {self.limits.messages_per_second:g} messages a second from this "
            "client (auth.messages_per_second): this one was dropped; slow down"
        )

    def allow_message(self, client: str) -> bool:
        """Take one message from the client's bucket; False when it is empty."""
        rate = self.limits.messages_per_second
        if not rate:
            return True
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(float(self.limits.burst), now)
        bucket.tokens = min(float(self.limits.burst), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True
