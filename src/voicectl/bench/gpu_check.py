"""``voicectl bench gpu``: every GPU adapter's tiny model through a real worker, one report.

A machine with CUDA is lent only now and then, so this is one command that checks what
only a GPU can show and writes one JSON file: per adapter (today Sesame CSM) the first
audio and RTF over gRPC, that PAUSE/RESUME loses and repeats nothing, how long a LoRA
takes to load and to switch to, and the device memory before and after repeated
load/unload cycles. The models are the tiny random-weight ones the tests use
(``tiny_csm``), so no hub is needed; ``--device cpu`` runs the same checks on the CPU.
"""

from __future__ import annotations

import asyncio
import importlib.util
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicectl.bench.fal import FalConfig, machine_info, measure_once, run_fal
from voicectl.bench.stats import Summary
from voicectl.bench.tiny_csm import TinyCsm, build
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.worker import memory
from voicectl.worker.config import WorkerConfig
from voicectl.worker.server import Worker, build_catalog

TEXT = "Hello there, how can I help you today? The quick brown fox jumps over the lazy dog."
CYCLES = 10
Progress = Callable[[str], None]


class GpuCheckError(RuntimeError):
    """The check cannot run here (no torch, or CUDA asked for and absent)."""


@dataclass(frozen=True, kw_only=True)
class GpuCheckConfig:
    device: str = "cuda"  # cuda | cpu
    runs: int = 10
    cycles: int = CYCLES


def device_memory(device: str) -> int:
    """Bytes in use on ``device``: the CUDA allocator's reserved bytes, or the RSS."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.memory_reserved(torch.device(device)))
    return memory.process_rss()


def _environment(device: str) -> dict[str, object]:
    try:
        import torch
    except ImportError as exc:
        raise GpuCheckError("torch is not installed: uv sync --extra csm") from exc
    cuda = torch.cuda.is_available()
    if device.startswith("cuda") and not cuda:
        raise GpuCheckError(
            f"--device {device}, but torch {torch.__version__} sees no CUDA GPU; "
            "use --device cpu to run the same checks on the CPU"
        )
    return {
        "device": device,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(torch.device(device)) if device != "cpu" else None,
        "machine": machine_info(),
    }


def _fal_dict(summary: Summary, rtf: Summary) -> dict[str, object]:
    return {"first_audio_ms": summary.to_dict(1), "rtf": rtf.to_dict(3)}


async def _pause_resume_exact(client: TTSClient, model_id: str) -> bool:
    """PAUSE after the first frames, RESUME: the same bytes as an uninterrupted reply."""
    request = SynthesisRequest(model_id=model_id, lookahead_ms=200)
    reference, _, _ = await collect_pcm(client.synthesize(TEXT, request))
    paused = SynthesisRequest(session_id="gpu-check-pause", model_id=model_id, lookahead_ms=200)
    call = client.synthesize(TEXT, paused)
    received: list[bytes] = []
    async for frame in call:
        received.append(frame.pcm)
        if len(received) == 3:
            await client.pause("gpu-check-pause")
            await asyncio.sleep(0.3)
            await client.resume("gpu-check-pause")
    return b"".join(received) == reference


async def _lora_swaps(client: TTSClient, base: str, runs: int) -> dict[str, object]:
    """Load time of one more LoRA, and first audio of sessions that alternate adapters."""
    started = time.perf_counter()
    await client.load_model(f"{base}+lora:bright")
    load_ms = (time.perf_counter() - started) * 1000
    order = [f"{base}+lora:calm", f"{base}+lora:bright", base]
    firsts = []
    for index in range(runs):
        request = SynthesisRequest(model_id=order[index % len(order)])
        firsts.append((await measure_once(client, request, "Sure.")).first_audio_s * 1000)
    base_loads = (await client.list_models()).models
    return {
        "load_ms": round(load_ms, 1),
        "switching_first_audio_ms": Summary.of(firsts).to_dict(1),
        "base_held_by": next(m.refcount for m in base_loads if m.model_id == base),
    }


async def _cycles(client: TTSClient, base: str, device: str, cycles: int) -> dict[str, object]:
    """Device memory after a warm-up cycle and after ``cycles`` more of load/unload."""
    lora = f"{base}+lora:calm"

    async def cycle() -> None:
        await client.load_model(lora)  # loads the base, then the adapter onto it
        await collect_pcm(client.synthesize("Sure.", SynthesisRequest(model_id=lora)))
        await client.unload_model(base, wait_if_in_use=True)  # takes its LoRAs with it

    await cycle()
    before = device_memory(device)
    for _ in range(cycles):
        await cycle()
    after = device_memory(device)
    return {"cycles": cycles, "before_bytes": before, "after_bytes": after,
            "growth_bytes": after - before}  # fmt: skip


@asynccontextmanager
async def _serving(config: WorkerConfig) -> AsyncIterator[TTSClient]:
    """A real worker on loopback with the tiny models, and a client of it."""
    worker = Worker(config, catalog=build_catalog(config))
    await worker.start()
    try:
        async with TTSClient(worker.address) as client:
            await client.wait_ready(timeout=30)
            yield client
    finally:
        await worker.stop(grace=0)


async def _first_audio(client: TTSClient, model_id: str, runs: int) -> dict[str, object]:
    config = FalConfig(model_id=model_id, runs=runs, warmup=2, text=TEXT)
    fal = await run_fal(client, config, worker="loopback")
    return _fal_dict(fal.first_audio_ms, fal.rtf)


def _worker_config(voicepacks: Path, lora_path: Path | None = None) -> WorkerConfig:
    return WorkerConfig(port=0, default_model="mock:sine", ttl_seconds=None, max_loaded=6,
                        voicepacks_dir=voicepacks, lora_path=lora_path)  # fmt: skip


async def check_csm(tiny: TinyCsm, config: GpuCheckConfig, say: Progress) -> dict[str, object]:
    result: dict[str, object] = {"model_id": tiny.model_id}
    async with _serving(_worker_config(tiny.voicepacks, lora_path=tiny.loras)) as client:
        for model in (tiny.model_id, f"{tiny.model_id}+lora:calm"):
            say(f"first audio: {model}")
            result[model] = await _first_audio(client, model, config.runs)
        say("pause/resume")
        result["pause_resume_exact"] = await _pause_resume_exact(client, tiny.model_id)
        say("LoRA swaps")
        result["lora"] = await _lora_swaps(client, tiny.model_id, config.runs)
        say(f"{config.cycles} load/unload cycles")
        result["memory"] = await _cycles(client, tiny.model_id, config.device, config.cycles)
    return result


async def check_xtts(root: Path, config: GpuCheckConfig, say: Progress) -> dict[str, object]:
    """XTTS-v2's tiny model: a voice cloned from a synthetic reference, then first audio,
    RTF and exact PAUSE/RESUME through a worker (``top_k: 1`` makes it deterministic)."""
    from voicectl.bench.tiny_xtts import build as build_xtts
    from voicectl.worker.adapters.xtts import XttsAdapter
    from voicectl.worker.voicepacks import load_voicepack
    from voicectl.worker.voices import save_voice

    tiny = await asyncio.to_thread(
        build_xtts, root, params=f"{{device: {config.device}, top_k: 1}}"
    )
    say("cloning a voice (xtts)")
    rate = 22050
    seconds = np.arange(8 * rate) / rate
    reference = 0.3 * np.sin(2 * np.pi * 180 * seconds) * (np.sin(2 * np.pi * 3 * seconds) > 0)
    adapter = await asyncio.to_thread(
        XttsAdapter.load, load_voicepack(tiny.folder / "voicepack.yaml")
    )
    started = time.perf_counter()
    latents = await asyncio.to_thread(adapter.clone_voice, reference.astype(np.float32), rate)
    clone_ms = (time.perf_counter() - started) * 1000
    adapter.unload()
    save_voice(tiny.folder, "tone", latents)
    result: dict[str, object] = {"model_id": tiny.model_id, "clone_ms": round(clone_ms, 1)}
    async with _serving(_worker_config(tiny.voicepacks)) as client:
        say("first audio: xtts")
        result[tiny.model_id] = await _first_audio(client, tiny.model_id, config.runs)
        say("pause/resume (xtts)")
        result["pause_resume_exact"] = await _pause_resume_exact(client, tiny.model_id)
    return result


async def run_gpu_check(
    config: GpuCheckConfig, say: Progress = lambda _: None
) -> dict[str, object]:
    """Every check, as one JSON-ready report; ``ok`` is False when a check failed."""
    started = time.perf_counter()
    report = _environment(config.device)
    params = f"{{device: {config.device}, do_sample: false, max_segment_seconds: 1.5}}"
    with tempfile.TemporaryDirectory(prefix="voicectl-gpu-check-") as root:
        say("building the tiny models")
        tiny = await asyncio.to_thread(build, Path(root) / "csm", params=params)
        csm = await check_csm(tiny, config, say)
        if importlib.util.find_spec("TTS") is None:
            xtts: dict[str, object] = {"not_run": "no xtts extra: uv sync --extra xtts"}
        else:
            xtts = await check_xtts(Path(root) / "xtts", config, say)
    report["adapters"] = {"csm": csm, "xtts": xtts}
    report["ok"] = bool(csm["pause_resume_exact"]) and xtts.get("pause_resume_exact") is not False
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    return {"bench": "gpu", **report}
