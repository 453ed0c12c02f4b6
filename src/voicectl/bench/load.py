"""Load and ASR benchmarks through a real orchestrator.

``load``: N concurrent sessions for T seconds, each sending typed turns back to back;
reports reply first-audio latency (text sent -> reply.started), underruns, CPU and RSS.
``asr``: spoken questions; end of user speech (last loud frame sent) -> transcript.final.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import psutil

from voicectl.bench.conversation import (
    QUESTION,
    RATE,
    ConversationBenchConfig,
    finished_session,
    frame_recorder,
    speech_bounds,
    stack,
)
from voicectl.bench.fal import machine_info
from voicectl.bench.scenario import speak, stream_audio
from voicectl.bench.stats import Summary
from voicectl.talk.client import TalkClient

TURN = "Give me a short answer about the weather tomorrow morning."
STAGGER_S = 2.0
THINK_S = (0.3, 1.2)


@dataclass
class LoadReport:
    sessions: int
    seconds: float
    turns: int = 0
    first_audio_ms: list[float] = field(default_factory=list)
    underruns: int = 0
    cpu_percent: float = 0.0  # of one core, this process (orchestrator + embedded worker)
    rss_bytes: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "bench": "load",
            "sessions": self.sessions,
            "seconds": self.seconds,
            "turns": self.turns,
            "first_audio_ms": Summary.of(self.first_audio_ms).to_dict(1)
            if self.first_audio_ms
            else None,
            "underruns": self.underruns,
            "errors": self.errors,
            "cpu_percent": round(self.cpu_percent, 1),
            "rss_mib": round(self.rss_bytes / 2**20, 1),
            "target": ">= 16 sessions without underrun (Piper, 2 cores)",
            "meets_target": self.sessions >= 16 and self.underruns == 0 and self.errors == 0,
            "machine": machine_info(),
        }


async def run_load(
    config: ConversationBenchConfig,
    *,
    sessions: int,
    seconds: float,
    progress: Callable[[float], None] | None = None,
) -> LoadReport:
    report = LoadReport(sessions=sessions, seconds=seconds)
    process = psutil.Process()
    async with stack(config) as bench:
        deadline = time.monotonic() + seconds
        process.cpu_percent(None)

        async def one() -> str:
            async with TalkClient(
                bench.url, input_sample_rate=RATE, output_sample_rate=RATE
            ) as talk:
                turn = 0
                while time.monotonic() < deadline:
                    sent = time.perf_counter()
                    await talk.send_text(TURN)
                    started = await talk.wait_for("reply.started", timeout=120, after=turn)
                    report.first_audio_ms.append((started["_at"] - sent) * 1000)
                    await talk.wait_for("reply.done", timeout=120, after=turn)
                    turn += 1
                    report.turns += 1
                report.errors += talk.count("error")
                return talk.session_id

        async def ticker() -> None:
            while time.monotonic() < deadline:
                if progress is not None:
                    progress(min(seconds, seconds - (deadline - time.monotonic())))
                await asyncio.sleep(0.5)

        ticking = asyncio.create_task(ticker())
        session_ids = await asyncio.gather(*(one() for _ in range(sessions)))
        ticking.cancel()
        report.cpu_percent = process.cpu_percent(None)
        report.rss_bytes = int(process.memory_info().rss)
        for session_id in session_ids:
            session = await finished_session(bench, session_id)
            if session is not None:
                report.underruns += session.metrics.underruns
    return report


@dataclass
class AsrReport:
    runs: int
    final_ms: list[float] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "bench": "asr",
            "runs": self.runs,
            "final_after_speech_ms": Summary.of(self.final_ms).to_dict(1)
            if self.final_ms
            else None,
            "transcripts": sorted(set(self.transcripts)),
            "machine": machine_info(),
        }


async def run_asr(
    config: ConversationBenchConfig, *, progress: Callable[[int], None] | None = None
) -> AsrReport:
    speech = await asyncio.to_thread(speak, QUESTION, sample_rate=RATE)
    _, last_frame = speech_bounds(speech)
    audio = np.concatenate([speech, np.zeros(RATE, dtype=np.int16)])
    report = AsrReport(runs=config.runs)
    async with stack(config) as bench:
        for run in range(config.runs):
            async with TalkClient(
                bench.url, input_sample_rate=RATE, output_sample_rate=RATE
            ) as talk:
                sent_at: dict[int, float] = {}
                await stream_audio(audio, RATE, talk.send_audio, on_frame=frame_recorder(sent_at))
                final = await talk.wait_for("transcript.final", timeout=60)
                report.final_ms.append((final["_at"] - sent_at[last_frame]) * 1000)
                report.transcripts.append(str(final["text"]))
                await talk.wait_for("reply.done", timeout=60)
            if progress is not None:
                progress(run + 1)
    return report
