"""``bench turns``: real recordings through the orchestrator, judged as a listener would.

Each recording is streamed in real time (then a silence tail) into a real orchestrator,
``--runs`` times. Per run: the final transcripts (one per turn the orchestrator took, so
more than one means it split the sentence; a turn end taken back when the user carried on
counts once, under ``continuations``), WER of the joined transcripts against the
reference, Whisper repetition loops in any partial or final transcript, and the latencies
from the end of speech. The brief's target: a sentence with a natural pause stays one turn,
zero loops, and the words as stock faster-whisper hears them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from voicectl.asr.guards import compression_ratio, is_loop
from voicectl.asr.wer import word_error_rate
from voicectl.bench.conversation import ConversationBenchConfig
from voicectl.bench.fal import machine_info
from voicectl.bench.recordings import Recording
from voicectl.bench.spoken import SpokenTurn, time_spoken_turns
from voicectl.bench.stats import Summary
from voicectl.orchestrator import events as ev
from voicectl.talk.transcripts import continuations, user_turns

LATENCIES = (
    "final_after_speech_ms",  # client: last speech frame sent -> first transcript.final
    "server_final_after_vad_end_ms",  # session: VAD end of the last turn -> final transcript
    "voice_to_voice_ms",  # client: last speech frame sent -> first reply.started
    "server_reply_after_vad_end_ms",  # session: VAD end of the last turn -> first reply frame
)


@dataclass(frozen=True, kw_only=True)
class TurnsResult:
    """One recording, one run."""

    input: str
    run: int
    transcripts: list[str]
    wer: float | None
    loops: int
    loop_texts: list[str]
    max_compression_ratio: float
    latencies_ms: dict[str, float | None]
    continuations: int = 0

    @property
    def turns(self) -> int:
        return len(self.transcripts)

    def to_dict(self) -> dict[str, object]:
        return {
            "input": self.input,
            "run": self.run,
            "transcripts": self.transcripts,
            "turns": self.turns,
            "continuations": self.continuations,
            "wer": self.wer,
            "loops": self.loops,
            "loop_texts": self.loop_texts,
            "max_compression_ratio": self.max_compression_ratio,
            **self.latencies_ms,
        }


def judge(
    events: Sequence[ev.ServerEvent], *, reference: str | None, input_name: str = "", run: int = 0,
    latencies_ms: dict[str, float | None] | None = None,
) -> TurnsResult:  # fmt: skip
    """Turns, WER and loops from the events of one run (pure)."""
    finals = [e.text for e in events if isinstance(e, ev.TranscriptFinal)]
    transcripts = user_turns(events)
    heard = finals + [e.text for e in events if isinstance(e, ev.TranscriptPartial)]
    looping = [text for text in heard if is_loop(text)]
    wer = None
    if reference is not None:
        wer = round(word_error_rate(reference, " ".join(transcripts)), 3)
    return TurnsResult(
        input=input_name, run=run, transcripts=transcripts, wer=wer, loops=len(looping),
        loop_texts=sorted(set(looping)),
        max_compression_ratio=round(max((compression_ratio(t) for t in heard), default=0.0), 3),
        latencies_ms=latencies_ms or dict.fromkeys(LATENCIES), continuations=continuations(events),
    )  # fmt: skip


def latencies(turn: SpokenTurn) -> dict[str, float | None]:
    """The run's latencies from the end of speech; None where nothing was measured."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    session = turn.session
    server_reply = None
    if session is not None and session.metrics.voice_to_voice:
        server_reply = session.metrics.voice_to_voice[-1] * 1000
    return {
        "final_after_speech_ms": ms(turn.after_speech_ms.get("transcript.final")),
        "server_final_after_vad_end_ms": ms(turn.server_final_ms),
        "voice_to_voice_ms": ms(turn.after_speech_ms.get("reply.started")),
        "server_reply_after_vad_end_ms": ms(server_reply),
    }


@dataclass
class TurnsReport:
    runs: int
    recordings: list[Recording]
    results: list[TurnsResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        wers = [r.wer for r in self.results if r.wer is not None]
        summaries: dict[str, object] = {}
        for name in LATENCIES:
            values = [v for r in self.results if (v := r.latencies_ms.get(name)) is not None]
            summaries[name] = Summary.of(values).to_dict(1) if values else None
        single = sum(1 for r in self.results if r.turns == 1)
        return {
            "bench": "turns",
            "runs": self.runs,
            "inputs": [
                {
                    "file": str(rec.path),
                    "seconds": rec.seconds,
                    "speech_end_s": rec.speech_end_s,
                    "reference": rec.reference,
                }
                for rec in self.recordings
            ],
            "results": [r.to_dict() for r in self.results],
            "single_turn_rate": round(single / len(self.results), 3) if self.results else None,
            "wer_mean": round(sum(wers) / len(wers), 3) if wers else None,
            "wer_max": max(wers) if wers else None,
            "loops": sum(r.loops for r in self.results),
            "continuations": sum(r.continuations for r in self.results),
            "max_compression_ratio": max(
                (r.max_compression_ratio for r in self.results), default=0.0
            ),
            **summaries,
            "machine": machine_info(),
        }


async def run_turns(
    config: ConversationBenchConfig,
    recordings: Sequence[Recording],
    *,
    progress: Callable[[int], None] | None = None,
) -> TurnsReport:
    """Every recording ``config.runs`` times; judge each run."""
    report = TurnsReport(runs=config.runs, recordings=list(recordings))
    turns = await time_spoken_turns(
        config, speech=[rec.speech for rec in recordings], progress=progress
    )
    for index, turn in enumerate(turns):
        recording = recordings[index % len(recordings)]
        report.results.append(
            judge(
                [r.event for r in turn.events],
                reference=recording.reference,
                input_name=recording.path.name,
                run=index // len(recordings) + 1,
                latencies_ms=latencies(turn),
            )
        )
    return report
