"""Feeds the worker's Prometheus metrics from the servicer and the model manager."""

from __future__ import annotations

from voicectl.observability.metrics import WorkerMetrics
from voicectl.rpc.model_state import ModelState
from voicectl.worker.load import LoadStats, session_counts
from voicectl.worker.model_entry import ModelEvents
from voicectl.worker.models import ModelManager
from voicectl.worker.servicer import StreamObserver
from voicectl.worker.session import SessionTable


class MetricsObserver(StreamObserver, ModelEvents):
    """The worker's one observer, for both hook interfaces: Prometheus (WorkerMetrics)
    and the first-frame window the registry heartbeat publishes (LoadStats)."""

    def __init__(self, metrics: WorkerMetrics, load: LoadStats | None = None) -> None:
        self.metrics = metrics
        self.load = load

    def stream_started(self, model_id: str) -> None:
        self.metrics.streams.labels(model_id).inc()

    def first_frame(self, model_id: str, seconds: float, *, since_call: float) -> None:
        self.metrics.first_audio.labels(model_id).observe(seconds)
        if self.load is not None:
            self.load.record_first_frame(since_call * 1000)

    def stream_ended(
        self, model_id: str, *, frames: int, audio_seconds: float, wall_seconds: float
    ) -> None:
        self.metrics.frames.labels(model_id).inc(frames)
        if audio_seconds > 0:
            self.metrics.rtf.labels(model_id).observe(wall_seconds / audio_seconds)

    def loaded(self, model_id: str, seconds: float) -> None:
        self.metrics.model_loads.labels(model_id, "ok").inc()
        self.metrics.model_load_seconds.labels(model_id).observe(seconds)

    def load_failed(self, model_id: str) -> None:
        self.metrics.model_loads.labels(model_id, "failed").inc()

    def unloaded(self, model_id: str, reason: str) -> None:
        self.metrics.model_evictions.labels(model_id, reason).inc()


def watch_worker(metrics: WorkerMetrics, manager: ModelManager, sessions: SessionTable) -> None:
    """Scrape-time gauges: sessions, queue depth, resident models and their memory."""
    metrics.watch(
        sessions=lambda: session_counts(sessions),
        models=lambda: [
            (e.spec.model_id, e.state is ModelState.READY, e.memory_bytes)
            for e in manager.entries()
        ],
    )
