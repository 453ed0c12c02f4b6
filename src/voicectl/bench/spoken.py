"""Spoken turns through a real orchestrator: stream user speech, time what comes back.

One run streams a phrase or a recording in real time, then a silence tail, and waits
until every reply has ended. The clocks start when the client sends the last 20 ms frame
of speech. The server's own figures (embedded orchestrator only) are read from the
session and the orchestrator's ASR histogram; against ``--url`` they are absent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from voicectl.bench.conversation import (
    RATE,
    ConversationBenchConfig,
    Stack,
    UserSpeech,
    finished_session,
    frame_recorder,
    stack,
    synthesized,
)
from voicectl.bench.fal import machine_info
from voicectl.bench.page_trace import first_sound
from voicectl.bench.stats import Summary
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.server import Orchestrator
from voicectl.orchestrator.session import Session
from voicectl.talk.client import Received
from voicectl.talk.clients import Client
from voicectl.talk.transcripts import turn_open
from voicectl.talk.user_audio import stream_audio

QUESTION = "What is the weather like today?"
TAIL_S = 2.0  # silence streamed after the speech, so the turn ends
IDLE_S = 0.5  # a run is over once every reply has ended and nothing arrived for this long


@dataclass
class VoiceToVoiceReport:
    runs: int
    client_ms: list[float] = field(
        default_factory=list
    )  # last speech frame sent -> first reply frame
    server_ms: list[float] = field(default_factory=list)  # VAD end of speech -> first frame sent

    def to_dict(self) -> dict[str, object]:
        client = Summary.of(self.client_ms).to_dict(1) if self.client_ms else None
        return {
            "bench": "e2e",
            "runs": self.runs,
            "voice_to_voice_ms": client,
            "server_after_vad_end_ms": Summary.of(self.server_ms).to_dict(1)
            if self.server_ms
            else None,
            "target_p95_ms": 400,
            "meets_target": client is not None and client["p95"] < 400,
            "machine": machine_info(),
        }


@dataclass(frozen=True)
class SpokenTurn:
    """One run of user speech: what the client received, and how long after the last speech
    frame was sent the first ``transcript.final`` and ``reply.started`` arrived."""

    speech: str  # UserSpeech.name
    spoke_at: float  # perf_counter when the last speech frame was sent
    after_speech_ms: dict[str, float]  # a kind is absent when no such event came after it
    transcript: str  # the first final transcript after the end of speech ("" if none)
    events: list[Received[ev.ServerEvent]]
    session: Session | None
    # A final's server VAD end -> final transcript (embedded; none for an empty final).
    asr_ms: dict[Received[ev.ServerEvent], float] = field(default_factory=dict)

    @property
    def server_final_ms(self) -> float | None:
        """The server's VAD end -> final transcript for the turn that ended the speech."""
        for received in self.events:
            if isinstance(received.event, ev.TranscriptFinal) and received.at > self.spoke_at:
                return self.asr_ms.get(received)
        return None


def _asr_totals(orchestrator: Orchestrator) -> tuple[float, float]:
    """(count, sum) of the orchestrator's end of speech -> final transcript histogram."""
    totals = {"count": 0.0, "sum": 0.0}
    for metric in orchestrator.metrics.asr.collect():
        for sample in metric.samples:
            suffix = sample.name.rsplit("_", 1)[-1]
            if suffix in totals:
                totals[suffix] = float(sample.value)
    return totals["count"], totals["sum"]


def _asr_recorder(
    orchestrator: Orchestrator | None, asr_ms: dict[Received[ev.ServerEvent], float]
) -> Callable[[Received[ev.ServerEvent]], None]:
    """Note in ``asr_ms`` each final transcript's ASR latency, the histogram's new
    observation: the session observes it just before it sends the event, in the same
    step (none for an empty transcript). Received events are frozen, hence the dict."""
    last = _asr_totals(orchestrator) if orchestrator is not None else (0.0, 0.0)

    def record(received: Received[ev.ServerEvent]) -> None:
        nonlocal last
        if orchestrator is None or not isinstance(received.event, ev.TranscriptFinal):
            return
        now = _asr_totals(orchestrator)
        if now[0] > last[0]:
            asr_ms[received] = (now[1] - last[1]) / (now[0] - last[0]) * 1000
        last = now

    return record


def _settled(talk: Client) -> bool:
    """Every reply has ended, the last non-empty final got its reply, and all is quiet."""
    events = talk.events
    if not events or time.perf_counter() - events[-1].at < IDLE_S:
        return False
    if turn_open(talk.server_events()):
        return False
    ended = talk.count(ev.ReplyDone) + talk.count(ev.ReplyStopped) + talk.count(ev.Error)
    finals = [r for r in talk.received(ev.TranscriptFinal) if r.event.text]
    answered = not finals or any(
        isinstance(r.event, ev.ReplyStarted | ev.Error) and r.at > finals[-1].at for r in events
    )
    return talk.count(ev.ReplyStarted) <= ended and answered


async def speak_turn(
    bench: Stack, speech: UserSpeech, *, tail_s: float = TAIL_S, timeout: float | None = None
) -> SpokenTurn:
    """Stream ``speech`` and a silence tail in real time, then wait until every reply ended
    (by default for 60 s plus twice the speech: an echoed reply is about as long)."""
    audio = np.concatenate([speech.audio, np.zeros(int(tail_s * RATE), dtype=np.int16)])
    if timeout is None:
        timeout = 60.0 + 2 * speech.audio.size / RATE
    async with bench.client() as talk:
        asr_ms: dict[Received[ev.ServerEvent], float] = {}
        talk.on_event = _asr_recorder(bench.orchestrator, asr_ms)
        sent_at: dict[int, float] = {}
        await stream_audio(audio, RATE, talk.send_audio, on_frame=frame_recorder(sent_at))
        spoke_at = sent_at[speech.last_frame]
        try:
            async with asyncio.timeout(timeout):
                while not _settled(talk):  # noqa: ASYNC110 - quiet for a while, not an event
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise TimeoutError(f"{speech.name}: the conversation did not settle within "
                               f"{timeout:g} s after the speech was sent") from None  # fmt: skip
        events = list(talk.events)
        session_id = talk.session_id
        heard = list(getattr(talk, "heard", ()))  # WebRTC: what the listener heard, when
    after: dict[str, float] = {}
    transcript = ""
    for received in events:
        event, kind = received.event, received.type
        late = received.at > spoke_at
        if isinstance(event, ev.TranscriptFinal | ev.ReplyStarted) and late and kind not in after:
            after[kind] = (received.at - spoke_at) * 1000
            if isinstance(event, ev.TranscriptFinal):
                transcript = event.text
    audible = first_sound(heard, spoke_at)
    if audible is not None:
        after["audible"] = (audible - spoke_at) * 1000
    return SpokenTurn(speech=speech.name, spoke_at=spoke_at, after_speech_ms=after,
                      transcript=transcript, events=events, asr_ms=asr_ms,
                      session=await finished_session(bench, session_id))  # fmt: skip


async def time_spoken_turns(
    config: ConversationBenchConfig,
    *,
    speech: Sequence[UserSpeech] = (),
    progress: Callable[[int], None] | None = None,
) -> list[SpokenTurn]:
    """Each of ``speech`` (default: QUESTION, by espeak-ng) ``config.runs`` times, run by run."""
    clips = list(speech) or [await asyncio.to_thread(synthesized, QUESTION)]
    turns: list[SpokenTurn] = []
    async with stack(config) as bench:
        for _ in range(config.runs):
            for clip in clips:
                turns.append(await speak_turn(bench, clip))
                if progress is not None:
                    progress(len(turns))
    return turns


async def run_e2e(
    config: ConversationBenchConfig,
    *,
    speech: Sequence[UserSpeech] = (),
    progress: Callable[[int], None] | None = None,
) -> VoiceToVoiceReport:
    """Speak a question (or each recording); time end of speech -> first reply audio."""
    report = VoiceToVoiceReport(runs=config.runs)
    for turn in await time_spoken_turns(config, speech=speech, progress=progress):
        # Over WebRTC, the first reply audio the client heard; over WebSocket the first
        # frame follows reply.started at once.
        first_audio = turn.after_speech_ms.get("audible", turn.after_speech_ms.get("reply.started"))
        if first_audio is not None:
            report.client_ms.append(first_audio)
        if turn.session is not None and turn.session.metrics.voice_to_voice:
            report.server_ms.append(turn.session.metrics.voice_to_voice[-1] * 1000)
    return report
