"""What one session records: its own figures (read by the benches) and Prometheus metrics.

Kept apart from the session so the conversation logic reads as logic; every number the
session produces goes through one of these methods.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from voicectl.asr.whisper import Transcript
from voicectl.observability.metrics import OrchestratorMetrics
from voicectl.orchestrator.asr import DecodeKind
from voicectl.orchestrator.pacer import Pacer

log = logging.getLogger(__name__)


@dataclass
class BargeInRecord:
    """Timing of one barge-in, for `voicectl bench bargein` and logs."""

    onset_frame_at: float  # arrival of the first speech frame of the onset
    paused_at: float  # when the pacer stopped sending
    frames_taken_back: int


@dataclass
class SessionMetrics:
    barge_ins: list[BargeInRecord] = field(default_factory=list)
    # End of user speech (VAD offset frame arrival) -> first reply frame sent, seconds.
    voice_to_voice: list[float] = field(default_factory=list)
    pacer_lateness: list[float] = field(default_factory=list)
    underruns: int = 0
    underrun_frames: list[int] = field(default_factory=list)  # reply frame index of each


class SessionTelemetry:
    def __init__(self, prometheus: OrchestratorMetrics | None = None) -> None:
        self.metrics = SessionMetrics()
        self.prometheus = prometheus or OrchestratorMetrics()

    def decoded(self, kind: DecodeKind, transcript: Transcript) -> None:
        """One ASR decode: which path answered, and whether a loop guard tripped."""
        guard = transcript.guard or "none"
        self.prometheus.asr_decodes.labels(kind, transcript.path, guard).inc()
        self.prometheus.asr_decode.labels(transcript.path).observe(transcript.seconds)
        if transcript.guard is not None:
            log.info("asr %s decode tripped %s: %s", kind, guard, transcript.path)

    def final_transcript(self, seconds_after_speech: float) -> None:
        self.prometheus.asr.observe(seconds_after_speech)

    def voice_to_voice(self, seconds: float) -> None:
        self.metrics.voice_to_voice.append(seconds)
        self.prometheus.voice_to_voice.observe(seconds)

    def llm_first_token(self, seconds: float) -> None:
        self.prometheus.llm_first_token.observe(seconds)

    def barge_in(self, record: BargeInRecord) -> None:
        self.metrics.barge_ins.append(record)
        self.prometheus.barge_in.observe(record.paused_at - record.onset_frame_at)

    def barge_in_outcome(self, outcome: str) -> None:
        """``stopped`` (the user took the turn) or ``resumed`` (it was noise)."""
        self.prometheus.barge_ins.labels(outcome).inc()

    def pacer_done(self, pacer: Pacer) -> None:
        """A reply's pacing figures, counted once however the reply ended."""
        if pacer.stats.collected:
            return
        pacer.stats.collected = True
        self.metrics.pacer_lateness.extend(pacer.stats.lateness)
        self.metrics.underruns += pacer.stats.underruns
        self.metrics.underrun_frames.extend(pacer.stats.underrun_frames)
        for lateness in pacer.stats.lateness:
            self.prometheus.pacing.observe(lateness)
        self.prometheus.underruns.inc(pacer.stats.underruns)
        self.prometheus.frames.inc(pacer.stats.frames_sent)
