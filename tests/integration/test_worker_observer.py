"""The worker's one stream observer feeds both Prometheus and the registry's load
figure, each with its own clock: synthesis only, and from the call."""

from __future__ import annotations

from tests.conftest import WorkerFactory
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm


async def test_one_stream_reaches_prometheus_and_the_load_window(
    make_worker: WorkerFactory,
) -> None:
    worker = await make_worker()
    assert worker.load.mean_latency_ms == 0.0
    async with TTSClient(worker.address) as client:
        await collect_pcm(client.synthesize("Hello there.", SynthesisRequest()))
    samples = {
        sample.name: sample.value
        for metric in worker.metrics.registry.collect()
        for sample in metric.samples
        if sample.labels.get("model") == "mock:fast"
    }
    assert samples["voicectl_worker_first_audio_seconds_count"] == 1
    synthesis_ms = samples["voicectl_worker_first_audio_seconds_sum"] * 1000
    assert worker.load.mean_latency_ms > 0
    # From the call (config read, model acquired) is never shorter than synthesis alone.
    assert worker.load.mean_latency_ms >= synthesis_ms
