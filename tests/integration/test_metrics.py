"""/metrics on both services, scraped over HTTP after real traffic and a barge-in."""

from __future__ import annotations

import asyncio
import urllib.request

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import OrchestratorFactory, WorkerFactory
from voicectl.orchestrator import events as ev
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.talk.client import TalkClient
from voicectl.talk.user_audio import noise, stream_audio

RATE = 16000


async def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Samples by name and label set, parsed with prometheus-client's own parser."""
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def total(samples: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str) -> float:
    return sum(samples.get(name, {}).values())


async def test_worker_metrics_after_a_synthesis(make_worker: WorkerFactory) -> None:
    worker = await make_worker(metrics_port=0)
    assert worker.metrics_server is not None
    async with TTSClient(worker.address) as client:
        await client.wait_ready()
        _pcm, _, frames = await collect_pcm(
            client.synthesize("Metrics please.", SynthesisRequest(model_id="mock:slow"))
        )
    samples = await scrape(worker.metrics_server.url)
    first_audio_count = total(samples, "voicectl_worker_first_audio_seconds_count")
    first_audio_sum = total(samples, "voicectl_worker_first_audio_seconds_sum")
    assert first_audio_count == 1
    assert 0 < first_audio_sum < 5, "first-audio latency should be a plausible few ms"
    assert samples["voicectl_worker_frames_sent_total"][(("model", "mock:slow"),)] == len(frames)
    assert total(samples, "voicectl_worker_real_time_factor_count") == 1
    assert samples["voicectl_worker_model_loaded"][(("model", "mock:fast"),)] == 1
    assert samples["voicectl_worker_model_loaded"][(("model", "mock:slow"),)] == 1
    assert total(samples, "voicectl_worker_model_loads_total") >= 2
    assert samples["voicectl_worker_sessions_active"][()] == 0


async def test_orchestrator_metrics_after_a_reply_and_a_barge_in(
    make_worker: WorkerFactory, make_orchestrator: OrchestratorFactory
) -> None:
    worker = await make_worker()
    orchestrator = await make_orchestrator(worker.address, metrics_port=0, model_id="mock:sine")
    assert orchestrator.metrics_server is not None
    async with TalkClient(orchestrator.address, input_sample_rate=RATE) as talk:
        await talk.send_text("one two three four five six seven eight nine ten eleven twelve")
        await talk.wait_for(ev.ReplyStarted, timeout=30)
        await asyncio.sleep(0.5)
        burst = np.concatenate([noise(100, level=0.3, sample_rate=RATE), np.zeros(RATE, np.int16)])
        await stream_audio(burst, RATE, talk.send_audio)
        await talk.wait_for(ev.ReplyResumed, timeout=30)
        await talk.wait_for(ev.ReplyDone, timeout=60)
        samples = await scrape(orchestrator.metrics_server.url)
    barge_in_count = total(samples, "voicectl_orchestrator_barge_in_seconds_count")
    barge_in_sum = total(samples, "voicectl_orchestrator_barge_in_seconds_sum")
    assert barge_in_count == 1
    assert 0 < barge_in_sum < 0.2, "onset to pause should take tens of milliseconds"
    assert samples["voicectl_orchestrator_barge_ins_total"][(("outcome", "resumed"),)] == 1
    pacing_count = total(samples, "voicectl_orchestrator_pacing_lateness_seconds_count")
    assert pacing_count > 50
    assert total(samples, "voicectl_orchestrator_frames_sent_total") > 50
    assert total(samples, "voicectl_orchestrator_llm_first_token_seconds_count") == 1
    assert samples["voicectl_orchestrator_sessions_active"][()] == 1


def test_grafana_dashboard_uses_only_metrics_that_exist() -> None:
    """docs/grafana-dashboard.json parses and every metric it queries is exported."""
    import json
    import re
    from pathlib import Path

    from voicectl.observability.metrics import OrchestratorMetrics, WorkerMetrics

    worker = WorkerMetrics()
    worker.watch(sessions=lambda: (0, 0), models=lambda: [("mock:sine", True, 1)])
    exported = {
        family.name + suffix
        for registry in (worker.registry, OrchestratorMetrics().registry)
        for family in registry.collect()
        for suffix in ("", "_total", "_bucket", "_count", "_sum")
    }
    dashboard = json.loads(
        (Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text()
    )
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"voicectl_[a-z_]+", e)}
    assert len(used) >= 12
    missing = used - exported
    assert not missing, f"dashboard queries unknown metrics: {sorted(missing)}"
