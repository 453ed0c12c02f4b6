"""Prometheus metrics of the worker and the orchestrator (names documented in docs/metrics.md).

Each service instance owns its own CollectorRegistry, so several workers can live in
one process (tests, embedded mode) and ``--metrics-port`` serves exactly one of them.
Units are in the names (``_seconds``, ``_bytes``), counters end in ``_total``, and the
only label is the model id, which is low-cardinality by construction (the catalog).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Buckets for latencies that should sit in the tens of milliseconds.
FAST_S = (0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0)
# Pacing lateness: sub-millisecond resolution.
JITTER_S = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.05, 0.1)
SLOW_S = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
RTF = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)


class WorkerMetrics:
    """Metrics of one TTS worker."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.first_audio = Histogram(
            "voicectl_worker_first_audio_seconds",
            "Model acquired to first audio frame sent: synthesis only, not a model load or the "
            "wait for one (the registry's mean_latency_ms counts from the call).",
            ["model"], buckets=FAST_S, registry=r,
        )  # fmt: skip
        self.rtf = Histogram(
            "voicectl_worker_real_time_factor",
            "Generation wall time divided by audio duration, per completed stream.",
            ["model"], buckets=RTF, registry=r,
        )  # fmt: skip
        self.frames = Counter(
            "voicectl_worker_frames_sent_total", "Audio frames sent.", ["model"], registry=r
        )
        self.streams = Counter(
            "voicectl_worker_streams_total", "Synthesize streams started.", ["model"], registry=r
        )
        self.model_loads = Counter(
            "voicectl_worker_model_loads_total", "Model loads by result.",
            ["model", "result"], registry=r,
        )  # fmt: skip
        self.model_evictions = Counter(
            "voicectl_worker_model_evictions_total", "Models unloaded, by reason.",
            ["model", "reason"], registry=r,
        )  # fmt: skip
        self.model_load_seconds = Histogram(
            "voicectl_worker_model_load_seconds", "Model load plus warmup time.",
            ["model"], buckets=SLOW_S, registry=r,
        )  # fmt: skip

    def watch(
        self,
        *,
        sessions: Callable[[], tuple[int, int]],
        models: Callable[[], Iterable[tuple[str, bool, int]]],
    ) -> None:
        """Gauges read at scrape time: (active, queued) sessions; (model, loaded, bytes)."""
        self.registry.register(_WorkerGauges(sessions, models))


class _WorkerGauges(Collector):
    def __init__(
        self,
        sessions: Callable[[], tuple[int, int]],
        models: Callable[[], Iterable[tuple[str, bool, int]]],
    ) -> None:
        self._sessions = sessions
        self._models = models

    def collect(self) -> Iterable[GaugeMetricFamily]:
        active, queued = self._sessions()
        yield GaugeMetricFamily("voicectl_worker_sessions_active", "Streams generating audio.",
                                value=active)  # fmt: skip
        yield GaugeMetricFamily("voicectl_worker_queue_depth", "Streams waiting for a model load.",
                                value=queued)  # fmt: skip
        loaded = GaugeMetricFamily("voicectl_worker_model_loaded", "1 if the model is resident.",
                                   labels=["model"])  # fmt: skip
        memory = GaugeMetricFamily(
            "voicectl_worker_model_memory_bytes", "Memory attributed to the model at load.",
            labels=["model"],
        )  # fmt: skip
        for model, is_loaded, size in self._models():
            loaded.add_metric([model], 1.0 if is_loaded else 0.0)
            memory.add_metric([model], float(size))
        yield loaded
        yield memory


class OrchestratorMetrics:
    """Metrics of one orchestrator."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions = Gauge("voicectl_orchestrator_sessions_active", "Open sessions.", registry=r)
        self.registry_age = Gauge(
            "voicectl_orchestrator_registry_age_seconds",
            "Age of the worker listing replies are routed on: 0 while the registry answers, "
            "growing while it is unreachable.", registry=r,
        )  # fmt: skip
        self.barge_in = Histogram(
            "voicectl_orchestrator_barge_in_seconds",
            "Speech onset in the input to the last reply frame sent (pause).",
            buckets=FAST_S, registry=r,
        )  # fmt: skip
        self.barge_ins = Counter(
            "voicectl_orchestrator_barge_ins_total", "Barge-ins by outcome.", ["outcome"],
            registry=r,
        )  # fmt: skip
        self.pacing = Histogram(
            "voicectl_orchestrator_pacing_lateness_seconds",
            "How late each reply frame left the pacer against its deadline (jitter).",
            buckets=JITTER_S, registry=r,
        )  # fmt: skip
        self.underruns = Counter(
            "voicectl_orchestrator_underruns_total",
            "Reply frames that arrived after the client's buffer ran dry.", registry=r,
        )  # fmt: skip
        self.frames = Counter(
            "voicectl_orchestrator_frames_sent_total", "Reply frames sent to clients.", registry=r
        )
        self.voice_to_voice = Histogram(
            "voicectl_orchestrator_voice_to_voice_seconds",
            "End of user speech (VAD) to the first reply frame sent.",
            buckets=SLOW_S, registry=r,
        )  # fmt: skip
        self.asr = Histogram(
            "voicectl_orchestrator_asr_final_seconds",
            "End of user speech (VAD) to the final transcript.", buckets=SLOW_S, registry=r,
        )  # fmt: skip
        self.llm_first_token = Histogram(
            "voicectl_orchestrator_llm_first_token_seconds",
            "LLM request to its first text delta.", buckets=SLOW_S, registry=r,
        )  # fmt: skip
        self.asr_decodes = Counter(
            "voicectl_orchestrator_asr_decodes_total",
            "ASR decodes by kind (partial, final), path (fast, fallback, dropped, stock) "
            "and the loop guard that sent it off the fast path (none when none did).",
            ["kind", "path", "guard"], registry=r,
        )  # fmt: skip
        self.asr_decode = Histogram(
            "voicectl_orchestrator_asr_decode_seconds",
            "One ASR decode, queueing excluded, by path.", ["path"], buckets=FAST_S, registry=r,
        )  # fmt: skip


class MetricsServer:
    """``/metrics`` for one registry, served on a daemon thread."""

    def __init__(self, registry: CollectorRegistry, *, port: int, host: str = "127.0.0.1") -> None:
        server, thread = start_http_server(port, addr=host, registry=registry)
        self._server: WSGIServer = server
        self._thread: Thread = thread
        self.port = int(server.server_address[1])
        self.url = f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Blocking: ``shutdown`` waits up to the server's 0.5 s poll for its thread."""
        self._server.shutdown()
        self._server.server_close()

    async def aclose(self) -> None:
        """``close`` off the event loop, so a service's other shutdown work goes on."""
        await asyncio.to_thread(self.close)
