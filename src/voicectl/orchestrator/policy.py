"""Per-session policy: the thresholds orchestrator.yaml sets (what a session measures
is in telemetry.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from voicectl.orchestrator import fsm
from voicectl.orchestrator.turns import EndpointingConfig


@dataclass(frozen=True, kw_only=True)
class VadThresholds:
    start_frames: int
    stop_frames: int
    # Frames quieter than this are not speech. Higher while the agent speaks: what an echo
    # canceller leaves of the agent's voice sits near -60 dBFS, a user barging in near -30.
    min_rms_dbfs: float = -60.0
    # Silero must agree, at this probability (None: webrtcvad alone, within a frame).
    # In the user's turn a pause must read as a pause in any recording; while the agent
    # speaks, the barge-in needs the frame-fast onset and a false one only pauses.
    speech_prob: float | None = None


@dataclass(frozen=True, kw_only=True)
class SessionPolicy:
    """Per-session behaviour from orchestrator.yaml."""

    vad_aggressiveness: int = 2
    # Onset/offset frame counts per phase: stricter onset while the agent speaks is not
    # needed for the two-stage barge-in (a false onset only pauses), so it is fast there.
    thresholds: dict[fsm.Phase, VadThresholds] = field(
        default_factory=lambda: {
            fsm.Phase.LISTENING: VadThresholds(start_frames=3, stop_frames=12, speech_prob=0.5),
            fsm.Phase.USER_SPEAKING: VadThresholds(start_frames=3, stop_frames=12, speech_prob=0.5),
            fsm.Phase.THINKING: VadThresholds(start_frames=4, stop_frames=20, speech_prob=0.5),
            fsm.Phase.SPEAKING: VadThresholds(start_frames=2, stop_frames=8, min_rms_dbfs=-45.0),
            fsm.Phase.BARGED_IN: VadThresholds(start_frames=2, stop_frames=8),
        }
    )
    confirm_ms: int = 400
    pacer_lookahead_frames: int = 3
    partial_interval_ms: int = 600
    # Silent frames after which the final transcript is started speculatively.
    speculate_after_frames: int = 2
    # How long a pause in the user's turn must last to end it (orchestrator/turns.py).
    endpointing: EndpointingConfig = field(default_factory=EndpointingConfig)
