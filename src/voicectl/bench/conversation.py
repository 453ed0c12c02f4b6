"""Conversation benchmarks through a real orchestrator: barge-in and pacing jitter, and the
stack they share with the spoken-turn benches (``voicectl.bench.spoken``).

Each run replays user speech in real time over the WebSocket: a phrase rendered by
espeak-ng, or a recording (``UserSpeech`` from ``voicectl.bench.recordings``).
Server-side figures come from the session's own metrics (embedded orchestrator);
client-side figures are timed by the client, which also works against a remote URL.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from voicectl.app import build_orchestrator
from voicectl.audio.frames import Int16Audio, samples_per_frame
from voicectl.bench.fal import machine_info
from voicectl.bench.page_trace import quiet_from
from voicectl.bench.stats import Summary
from voicectl.livekit_tokens import LiveKitCredentials
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.config import OrchestratorConfig
from voicectl.orchestrator.server import Orchestrator
from voicectl.orchestrator.session import Session
from voicectl.talk.clients import Client, talk_client
from voicectl.talk.user_audio import noise, speak, stream_audio

RATE = 16000
REPLY_PROMPT = (
    "Tell me a long story about a lighthouse keeper who lived alone on a rocky island "
    "and kept the lamp burning through every storm for forty years."
)
INTERRUPTION = "Stop, wait a moment please."
SPEECH_RMS = 500.0  # int16 RMS above which a 20 ms frame counts as speech onset/offset


TRANSPORTS = ("websocket", "webrtc", "livekit")
KEEP_FINISHED = 100  # ended sessions the report reads its server-side figures from


@dataclass(frozen=True, kw_only=True)
class ConversationBenchConfig:
    runs: int = 10
    url: str | None = None  # a running orchestrator (ws:// or the --web http://); None = embedded
    orchestrator: OrchestratorConfig = field(default_factory=OrchestratorConfig)
    seed: int = 1
    # The embedded orchestrator's: websocket | webrtc | livekit (orchestrator.livekit's server).
    transport: str = "websocket"


@dataclass
class Stack:
    url: str
    orchestrator: Orchestrator | None
    livekit: LiveKitCredentials | None = None  # what signs the tokens of livekit:// clients

    def client(self) -> Client:
        """A client of this stack at the benches' rate; enter it to connect."""
        if self.livekit is not None:
            return talk_client(self.url, input_sample_rate=RATE, output_sample_rate=RATE,
                               livekit=self.livekit)  # fmt: skip
        return talk_client(self.url, input_sample_rate=RATE, output_sample_rate=RATE)

    def session(self, session_id: str) -> Session | None:
        if self.orchestrator is None:
            return None
        for session in self.orchestrator.finished_sessions:
            if session.settings.session_id == session_id:
                return session
        return self.orchestrator.sessions.get(session_id)


@asynccontextmanager
async def stack(config: ConversationBenchConfig) -> AsyncIterator[Stack]:
    if config.url is not None:
        yield Stack(url=config.url, orchestrator=None)
        return
    webrtc = config.transport == "webrtc"
    web = "127.0.0.1:0" if webrtc else ""
    settings = replace(config.orchestrator, ws_port=0, web=web)
    agent_name = settings.livekit.agent_name
    if config.transport == "livekit" and not agent_name:
        # Dispatched by name: another agent on the same server would otherwise take some
        # of the rooms, and its sessions would be missing from this report.
        agent_name = f"voicectl-bench-{secrets.token_hex(4)}"
        settings = replace(settings, livekit=replace(settings.livekit, agent_name=agent_name))
    orchestrator = build_orchestrator(settings, keep_finished=KEEP_FINISHED)
    await orchestrator.start()
    try:
        url = orchestrator.web.address if orchestrator.web is not None else orchestrator.address
        credentials = None
        if config.transport == "livekit":  # each client a room of its own (no path)
            assert orchestrator.livekit is not None
            credentials = orchestrator.livekit.credentials
            url = credentials.url.replace("ws", "livekit", 1) + f"/?agent={agent_name}"
        yield Stack(url=url, orchestrator=orchestrator, livekit=credentials)
    finally:
        await orchestrator.stop()


def speech_bounds(audio: Int16Audio) -> tuple[int, int]:
    """Indices of the first and last 20 ms frames loud enough to be speech."""
    frames = audio[: audio.size // 320 * 320].reshape(-1, 320).astype(np.float64)
    loud = np.flatnonzero(np.sqrt(np.mean(frames**2, axis=1)) > SPEECH_RMS)
    return int(loud[0]), int(loud[-1])


@dataclass(frozen=True, eq=False)
class UserSpeech:
    """The user's side of one run, at ``RATE``, and the 20 ms frames where speech begins and
    ends (the latencies count from them)."""

    name: str
    audio: Int16Audio
    first_frame: int
    last_frame: int

    def from_onset(self) -> UserSpeech:
        """The same speech without what precedes its first frame (a recording's room noise,
        which a VAD may take for the onset)."""
        start = self.first_frame * samples_per_frame(RATE)
        return UserSpeech(name=self.name, audio=self.audio[start:], first_frame=0,
                          last_frame=self.last_frame - self.first_frame)  # fmt: skip


def synthesized(text: str) -> UserSpeech:
    """``text`` spoken by espeak-ng: digital silence around it, so loudness finds the speech."""
    audio = speak(text, sample_rate=RATE)
    first, last = speech_bounds(audio)
    return UserSpeech(name=f"espeak-ng: {text}", audio=audio, first_frame=first, last_frame=last)


def frame_recorder(sent_at: dict[int, float]) -> Callable[[int], None]:
    """Remember when each input frame was sent."""

    def record(index: int) -> None:
        sent_at[index] = time.perf_counter()

    return record


async def _ticker(talk: Client) -> None:
    while True:
        talk.playback.tick()
        await asyncio.sleep(0.005)


async def finished_session(bench: Stack, session_id: str) -> Session | None:
    if bench.orchestrator is None:
        return None
    for _ in range(200):
        session = bench.session(session_id)
        if session is not None and session_id not in bench.orchestrator.sessions:
            return session
        await asyncio.sleep(0.02)
    return bench.session(session_id)


@dataclass
class BargeInReport:
    runs: int
    server_ms: list[float] = field(default_factory=list)  # onset in the input -> last frame sent
    client_ms: list[float] = field(default_factory=list)  # onset sent -> playback stopped
    noise_bursts: int = 0
    false_pauses: int = 0  # bursts that paused the reply (expected: the first stage is cheap)
    false_stops: int = 0  # bursts that stopped the reply (must be 0)
    resumed: int = 0

    def to_dict(self) -> dict[str, object]:
        def summary(values: list[float]) -> dict[str, float] | None:
            return Summary.of(values).to_dict(1) if values else None

        server = summary(self.server_ms)
        return {
            "bench": "bargein",
            "runs": self.runs,
            "server_ms": server,
            "client_ms": summary(self.client_ms),
            "noise_bursts": self.noise_bursts,
            "false_pause_rate": round(self.false_pauses / self.noise_bursts, 3)
            if self.noise_bursts
            else None,
            "false_stop_rate": round(self.false_stops / self.noise_bursts, 3)
            if self.noise_bursts
            else None,
            "resumed_after_noise": self.resumed,
            "target_p95_ms": 40,
            "meets_target": server is not None and server["p95"] < 40,
            "machine": machine_info(),
        }


async def run_bargein(
    config: ConversationBenchConfig,
    *,
    interruption: UserSpeech | None = None,
    progress: Callable[[int], None] | None = None,
) -> BargeInReport:
    """Interrupt a playing reply with speech (odd runs) or a noise burst (even runs); the
    speech is INTERRUPTION by espeak-ng, or a recording from its first speech frame on."""
    if interruption is not None:
        spoken = interruption.from_onset()
    else:
        spoken = await asyncio.to_thread(synthesized, INTERRUPTION)
    speech, onset_frame = spoken.audio, spoken.first_frame
    silence = np.zeros(RATE, dtype=np.int16)
    rng = random.Random(config.seed)
    report = BargeInReport(runs=config.runs)
    async with stack(config) as bench:
        for run in range(config.runs):
            is_noise = run % 2 == 1
            clip = noise(100, level=0.3, sample_rate=RATE, seed=run) if is_noise else speech
            audio = np.concatenate([clip, silence])
            async with bench.client() as talk:
                ticker = asyncio.create_task(_ticker(talk))
                await talk.send_text(REPLY_PROMPT)
                await talk.wait_for(ev.ReplyStarted, timeout=60)
                await asyncio.sleep(0.5 + rng.random() * 0.5)
                sent_at: dict[int, float] = {}
                await stream_audio(audio, RATE, talk.send_audio, on_frame=frame_recorder(sent_at))
                if is_noise:
                    report.noise_bursts += 1
                    await asyncio.sleep(0.6)
                    report.false_pauses += talk.count(ev.ReplyPaused)
                    report.false_stops += talk.count(ev.ReplyStopped)
                    report.resumed += talk.count(ev.ReplyResumed)
                else:
                    clear = await talk.wait_for(ev.Clear, timeout=10)
                    stopped_at = clear.at
                    heard = getattr(talk, "heard", None)
                    if heard is not None:  # WebRTC: when the listener stopped hearing it
                        await asyncio.sleep(0.5)
                        stopped_at = quiet_from(heard, sent_at[onset_frame]) or stopped_at
                    report.client_ms.append((stopped_at - sent_at[onset_frame]) * 1000)
                ticker.cancel()
                session_id = talk.session_id
            session = await finished_session(bench, session_id)
            if session is not None and not is_noise and session.metrics.barge_ins:
                record = session.metrics.barge_ins[0]
                report.server_ms.append((record.paused_at - record.onset_frame_at) * 1000)
            if progress is not None:
                progress(run + 1)
    return report


@dataclass
class JitterReport:
    sessions: int
    lateness_ms: list[float] = field(default_factory=list)
    underruns: int = 0
    underrun_frames: list[int] = field(default_factory=list)
    frames: int = 0

    def to_dict(self) -> dict[str, object]:
        summary = Summary.of(self.lateness_ms).to_dict(3) if self.lateness_ms else None
        return {
            "bench": "jitter",
            "sessions": self.sessions,
            "frames": self.frames,
            "lateness_ms": summary,
            "underruns": self.underruns,
            "underrun_frames": sorted(self.underrun_frames),
            "target_p95_ms": 2,
            "meets_target": summary is not None and summary["p95"] < 2,
            "machine": machine_info(),
        }


async def run_jitter(config: ConversationBenchConfig, *, sessions: int) -> JitterReport:
    """N concurrent sessions each play one reply; measure pacer send-time lateness."""
    report = JitterReport(sessions=sessions)
    async with stack(config) as bench:
        if bench.orchestrator is None:
            raise ValueError(
                "jitter is measured inside the orchestrator: run it embedded (no --url)"
            )

        async def one() -> str:
            async with bench.client() as talk:
                await talk.send_text(REPLY_PROMPT)
                await talk.wait_for(ev.ReplyDone, timeout=120)
                return talk.session_id

        for session_id in await asyncio.gather(*(one() for _ in range(sessions))):
            session = await finished_session(bench, session_id)
            if session is not None:
                report.lateness_ms += [x * 1000 for x in session.metrics.pacer_lateness]
                report.underruns += session.metrics.underruns
                report.underrun_frames.extend(session.metrics.underrun_frames)
        report.frames = len(report.lateness_ms)
    return report
