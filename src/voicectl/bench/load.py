"""Load and ASR benchmarks through a real orchestrator.

``load``: N concurrent sessions for T seconds, each sending typed turns back to back;
reports reply first-audio latency (text sent -> reply.started), underruns, CPU and RSS.
``asr``: spoken questions; end of user speech (last loud frame sent) -> transcript.final.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from voicectl.bench.conversation import RATE, ConversationBenchConfig, finished_session, stack
from voicectl.bench.fal import machine_info
from voicectl.bench.spoken import time_spoken_turns
from voicectl.bench.stats import Summary
from voicectl.orchestrator import events as ev
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
    underrun_frames: list[int] = field(default_factory=list)  # where in its reply each one hit
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
            "underrun_frames": sorted(self.underrun_frames),
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

        rng = random.Random(config.seed)

        async def one() -> str:
            # Sessions arrive over the first STAGGER_S and pause between turns, as people do;
            # every session starting every reply in the same instant is not a workload.
            await asyncio.sleep(rng.uniform(0, STAGGER_S))
            async with TalkClient(
                bench.url, input_sample_rate=RATE, output_sample_rate=RATE
            ) as talk:
                turn = 0
                while time.monotonic() < deadline:
                    if turn:
                        await asyncio.sleep(rng.uniform(*THINK_S))
                    sent = time.perf_counter()
                    await talk.send_text(TURN)
                    started = await talk.wait_for(ev.ReplyStarted, timeout=120, after=turn)
                    report.first_audio_ms.append((started.at - sent) * 1000)
                    await talk.wait_for(ev.ReplyDone, timeout=120, after=turn)
                    turn += 1
                    report.turns += 1
                report.errors += talk.count(ev.Error)
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
                report.underrun_frames.extend(session.metrics.underrun_frames)
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
    """Spoken questions; end of speech -> final transcript at the client."""
    report = AsrReport(runs=config.runs)
    for turn in await time_spoken_turns(config, progress=progress):
        if "transcript.final" in turn.after_speech_ms:
            report.final_ms.append(turn.after_speech_ms["transcript.final"])
        report.transcripts.append(turn.transcript)
    return report
