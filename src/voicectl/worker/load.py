"""Routing-relevant load of a worker: queue depth and recent first-frame latency.

``LoadStats`` keeps a window of the time from each Synthesize call to its first frame
(fed by the worker's one stream observer, worker/metrics.py). The registry heartbeat
publishes the mean, and routers read it.
"""

from __future__ import annotations

from collections import deque

from voicectl.worker.session import SessionTable


class LoadStats:
    """Mean of the last ``window`` first-frame latencies, in milliseconds."""

    def __init__(self, window: int = 32) -> None:
        self._latencies: deque[float] = deque(maxlen=window)

    def record_first_frame(self, latency_ms: float) -> None:
        self._latencies.append(latency_ms)

    @property
    def mean_latency_ms(self) -> float:
        if not self._latencies:
            return 0.0
        return sum(self._latencies) / len(self._latencies)


def session_counts(sessions: SessionTable) -> tuple[int, int]:
    """(active streams, streams waiting for their model) of a session table."""
    active = len(sessions.sessions())
    return active, len(sessions) - active
