"""Soak: N concurrent conversations for a long while; does memory stay flat?

Every session slot holds conversations back to back against a worker process and an
orchestrator process (``voicectl.bench.soak_stack``): typed and spoken turns in turn
(espeak-ng speech streamed in real time, so VAD and ASR work too), Piper replies, a
short pause between turns, and a new session every ``turns_per_session`` turns so
session setup and teardown are soaked as well. Meanwhile the RSS of both processes is
sampled at a fixed interval. At the end, with every session closed, the worker's model
refcounts and active-stream gauges and the orchestrator's session gauge must be back
to 0. The figures and the verdict are computed in ``voicectl.bench.soak_stats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from websockets.exceptions import WebSocketException

from voicectl.audio.frames import Int16Audio
from voicectl.bench.conversation import RATE, synthesized
from voicectl.bench.fal import machine_info
from voicectl.bench.load import THINK_S, TURN
from voicectl.bench.soak_stack import Service, gauges, model_id_of, refcounts, rss_bytes, stack
from voicectl.bench.soak_stats import MIB, Growth, RssSample, growth, verdict
from voicectl.bench.spoken import QUESTION, TAIL_S
from voicectl.orchestrator import events as ev
from voicectl.talk.client import HandshakeRefused, TalkClient
from voicectl.talk.transcripts import turn_open
from voicectl.talk.user_audio import stream_audio

STAGGER_S = 2.0  # sessions start over this span, as people arrive
TURN_TIMEOUT_S = 60.0
QUIET_S = 0.3  # a turn is over once its replies ended and nothing arrived for this long
RETRY_S = 1.0  # pause after a failed turn before the next session
SETTLE_TIMEOUT_S = 15.0  # for the gauges to reach 0 after the last session closed
WORKER_GAUGES = ("voicectl_worker_sessions_active", "voicectl_worker_queue_depth")
ORCHESTRATOR_GAUGES = ("voicectl_orchestrator_sessions_active",)
TARGET = "RSS growth after warm-up within --max-growth-pct (5 %) per process; refcounts and "
TARGET += "active sessions back to 0; no failed turn"


@dataclass(frozen=True, kw_only=True)
class SoakConfig:
    sessions: int = 8
    seconds: float = 600.0
    interval_s: float = 1.0
    warmup_pct: float = 20.0
    max_growth_pct: float = 5.0
    turns_per_session: int = 10
    worker: str | None = None  # HOST:PORT; None = start a worker process
    model_id: str = ""  # "" = the worker's default
    connect_timeout: float = 10.0
    seed: int = 1

    def __post_init__(self) -> None:
        checks = (
            (self.sessions >= 1, f"--sessions must be >= 1, got {self.sessions}"),
            (self.seconds >= 10, f"--seconds/--minutes: the soak must last >= 10 s, got "
                                 f"{self.seconds:g} s"),
            (0 < self.interval_s <= self.seconds / 10, f"--interval must be > 0 and at most a "
             f"tenth of the run ({self.seconds / 10:g} s), got {self.interval_s:g}"),
            (0 <= self.warmup_pct <= 80, f"--warmup-pct must be within 0..80, got "
                                         f"{self.warmup_pct:g}"),
            (self.max_growth_pct >= 0, f"--max-growth-pct must be >= 0, got "
                                       f"{self.max_growth_pct:g}"),
            (self.turns_per_session >= 1, f"--turns-per-session must be >= 1, got "
                                          f"{self.turns_per_session}"),
        )  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def warmup_s(self) -> float:
        return self.seconds * self.warmup_pct / 100.0


class TurnFailed(RuntimeError):
    """A turn got an error event, or no reply ended in time."""


@dataclass
class Tally:
    """What the sessions did so far (progress and report)."""

    conversations: int = 0
    turns: int = 0
    spoken_turns: int = 0
    failed_turns: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class Tick:
    """One sampling step, for live progress."""

    elapsed_s: float
    tally: Tally
    rss_mib: dict[str, float | None]


def _ended(talk: TalkClient) -> int:
    return talk.count(ev.ReplyDone) + talk.count(ev.ReplyStopped)


async def _settle(talk: TalkClient, ended_before: int, errors_before: int) -> None:
    """Wait until a reply ended since ``ended_before``, none is playing, the user's turn
    is closed and nothing arrived for QUIET_S; an error event fails the turn."""
    try:
        async with asyncio.timeout(TURN_TIMEOUT_S):
            while True:
                if talk.count(ev.Error) > errors_before:
                    error = talk.received(ev.Error)[-1].event
                    raise TurnFailed(f"error {error.code}: {error.message}")
                if talk.closed.is_set():
                    raise TurnFailed("the orchestrator closed the session mid-turn")
                ended = _ended(talk)
                quiet = time.perf_counter() - talk.events[-1].at >= QUIET_S
                if (ended > ended_before and talk.count(ev.ReplyStarted) <= ended and quiet
                        and not turn_open(talk.server_events())):  # fmt: skip
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise TurnFailed(f"no reply ended within {TURN_TIMEOUT_S:g} s") from None


async def _turn(talk: TalkClient, speech: Int16Audio | None) -> None:
    """One typed turn (``speech`` None) or spoken turn, until its reply has played."""
    ended, errors = _ended(talk), talk.count(ev.Error)
    if speech is None:
        await talk.send_text(TURN)
    else:
        await stream_audio(speech, RATE, talk.send_audio)
    await _settle(talk, ended, errors)


async def _slot(
    index: int,
    url: str,
    config: SoakConfig,
    speech: Int16Audio,
    deadline: float,
    tally: Tally,
    rng: random.Random,
) -> None:
    """Conversations back to back until ``deadline``; the turn in flight then finishes."""
    await asyncio.sleep(rng.uniform(0, STAGGER_S))
    while time.monotonic() < deadline:
        try:
            async with TalkClient(url, input_sample_rate=RATE, output_sample_rate=RATE,
                                  model_id=config.model_id) as talk:  # fmt: skip
                tally.conversations += 1
                for turn in range(config.turns_per_session):
                    if time.monotonic() >= deadline:
                        break
                    if turn:
                        await asyncio.sleep(rng.uniform(*THINK_S))
                    spoken = (index + turn) % 2 == 1
                    await _turn(talk, speech if spoken else None)
                    tally.turns += 1
                    tally.spoken_turns += spoken
        except (TurnFailed, TimeoutError, OSError, HandshakeRefused, WebSocketException) as exc:
            tally.failed_turns += 1
            tally.last_error = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(RETRY_S)


@dataclass
class SoakReport:
    config: SoakConfig
    worker: str  # "process" (started for the soak) or the --worker address
    model_id: str
    elapsed_s: float
    tally: Tally
    pids: dict[str, int | None]
    series: dict[str, list[RssSample]]
    growths: dict[str, Growth | None]  # None: the process could not be sampled
    end_state: dict[str, object]
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        processes: dict[str, object] = {}
        for name, pid in self.pids.items():
            measured = self.growths[name]
            processes[name] = None if measured is None else {
                "pid": pid, **measured.to_dict(),
                "series": [[round(s.at_s, 1), round(s.rss_bytes / MIB, 1)]
                           for s in self.series[name]],
            }  # fmt: skip
        c = self.config
        return {
            "bench": "soak",
            "sessions": c.sessions,
            "seconds": c.seconds,
            "elapsed_s": round(self.elapsed_s, 1),
            "interval_s": c.interval_s,
            "warmup_s": round(c.warmup_s, 1),
            "turns_per_session": c.turns_per_session,
            "model_id": self.model_id,
            "worker": self.worker,
            "conversations": self.tally.conversations,
            "turns": self.tally.turns,
            "spoken_turns": self.tally.spoken_turns,
            "failed_turns": self.tally.failed_turns,
            "last_error": self.tally.last_error,
            "processes": processes,
            "end_state": self.end_state,
            "max_growth_pct": c.max_growth_pct,
            "target": TARGET,
            "meets_target": not self.failures,
            "failures": self.failures,
            "machine": machine_info(),
        }


async def _sample(
    services: list[Service],
    series: dict[str, list[RssSample]],
    *,
    start: float,
    interval_s: float,
    stop: asyncio.Event,
    on_tick: Callable[[dict[str, float | None]], None],
) -> None:
    """RSS of each process with a pid, on absolute ticks ``interval_s`` apart, until ``stop``."""
    due = start
    while not stop.is_set():
        at = time.monotonic() - start
        latest: dict[str, float | None] = {}
        for service in services:
            rss = rss_bytes(service.pid) if service.pid is not None else None
            if rss is not None:
                series[service.name].append(RssSample(at_s=at, rss_bytes=rss))
            latest[service.name] = None if rss is None else rss / MIB
        on_tick(latest)
        due += interval_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, due - time.monotonic()))


async def _end_state(tts: Service, orchestrator: Service) -> dict[str, object]:
    """Refcounts and gauges, polled until all are 0 or SETTLE_TIMEOUT_S passed (a session's
    teardown finishes a moment after the client closed it)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        state: dict[str, object] = {"refcounts": await refcounts(tts.address)}
        state |= await gauges(tts, WORKER_GAUGES) | await gauges(orchestrator, ORCHESTRATOR_GAUGES)
        if not any(_leftovers(state).values()) or time.monotonic() >= deadline:
            return state
        await asyncio.sleep(0.25)


def _leftovers(state: dict[str, object]) -> dict[str, int | None]:
    counts = state["refcounts"]
    out: dict[str, int | None] = {
        "worker refcount total": sum(counts.values()) if isinstance(counts, dict) else None
    }
    for key, value in state.items():
        if key != "refcounts":
            out[key] = value if isinstance(value, int) else None
    return out


def _growths(
    services: list[Service], series: dict[str, list[RssSample]], warmup_s: float
) -> tuple[dict[str, Growth | None], list[str]]:
    """Growth per process, and a failure for each one with a pid that was not measured."""
    out: dict[str, Growth | None] = {}
    failures = []
    for service in services:
        out[service.name] = None
        if service.pid is None:
            continue
        try:
            out[service.name] = growth(series[service.name], warmup_s=warmup_s)
        except ValueError as exc:
            failures.append(f"{service.name}: {exc}")
    return out, failures


async def run_soak(
    config: SoakConfig, *, on_tick: Callable[[Tick], None] | None = None
) -> SoakReport:
    """Start what is missing, hold ``config.sessions`` conversations for ``config.seconds``
    while sampling RSS, then read the end state and judge."""
    clip = await asyncio.to_thread(synthesized, QUESTION)
    speech = np.concatenate([clip.audio, np.zeros(int(TAIL_S * RATE), dtype=np.int16)])
    async with stack(worker=config.worker, model_id=config.model_id,
                     connect_timeout=config.connect_timeout) as (tts, orchestrator):  # fmt: skip
        model_id = await model_id_of(tts.address, config.model_id)
        services = [tts, orchestrator]
        series: dict[str, list[RssSample]] = {s.name: [] for s in services}
        tally = Tally()
        start = time.monotonic()
        stop = asyncio.Event()

        def tick(latest: dict[str, float | None]) -> None:
            if on_tick is not None:
                on_tick(Tick(elapsed_s=time.monotonic() - start, tally=tally, rss_mib=latest))

        sampler = asyncio.create_task(_sample(services, series, start=start,
                                              interval_s=config.interval_s, stop=stop,
                                              on_tick=tick))  # fmt: skip
        rng = random.Random(config.seed)
        deadline = start + config.seconds
        try:
            await asyncio.gather(*(_slot(i, orchestrator.address, config, speech, deadline,
                                         tally, rng) for i in range(config.sessions)))  # fmt: skip
        finally:
            stop.set()
            await sampler
        elapsed = time.monotonic() - start
        end_state = await _end_state(tts, orchestrator)
        growths, unmeasured = _growths(services, series, config.warmup_s)
        failures = verdict(growths, max_growth_pct=config.max_growth_pct,
                           leftovers=_leftovers(end_state), turns=tally.turns,
                           failed_turns=tally.failed_turns)  # fmt: skip
        failures += unmeasured
        failures += [note for s in services if (note := s.exit_note()) is not None]
    return SoakReport(
        config=config, worker="process" if config.worker is None else config.worker,
        model_id=model_id, elapsed_s=elapsed, tally=tally,
        pids={s.name: s.pid for s in services}, series=series, growths=growths,
        end_state=end_state, failures=failures,
    )  # fmt: skip
