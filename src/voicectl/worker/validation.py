"""Validation of Synthesize requests: pure checks that name the field and what is allowed."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from voicectl.audio.frames import FRAME_MS, SUPPORTED_SAMPLE_RATES
from voicectl.audio.loudness import DEFAULT_TARGET_DBFS
from voicectl.rpc.client import MAX_CHUNK_CHARS  # one limit for client and worker
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.speakable import unspeakable
from voicectl.worker.adapters.base import ModelSpec, SynthesisOptions
from voicectl.worker.errors import invalid, quoted
from voicectl.worker.session import SessionParams

MAX_SESSION_CHARS = 100_000
# fullmatch: with match and "$", an id ending in a newline was accepted ("$" matches before it).
SESSION_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
SPEED_RANGE = (0.5, 2.0)
TARGET_DBFS_RANGE = (-40.0, -6.0)
LOOKAHEAD_MS_RANGE = (100, 10_000)
DEFAULT_LOOKAHEAD_MS = 1000


@dataclass(frozen=True, kw_only=True)
class SessionDefaults:
    target_dbfs: float = DEFAULT_TARGET_DBFS
    lookahead_ms: int = DEFAULT_LOOKAHEAD_MS


def validate_config(
    config: pb.SessionConfig,
    *,
    spec: ModelSpec,
    native_rate: int,
    defaults: SessionDefaults,
    speed_control: bool = True,
) -> SessionParams:
    """Check a SessionConfig against the chosen model; raise RequestError naming the field."""
    session_id = config.session_id or f"s-{uuid.uuid4().hex[:12]}"
    if not SESSION_ID_PATTERN.fullmatch(session_id):
        raise invalid(
            f"config.session_id {quoted(config.session_id, 40)} is invalid: use 1..128 characters "
            "of letters, digits and . _ : -"
        )
    voice = config.voice or spec.default_voice
    if voice not in spec.voices:
        raise invalid(
            f"config.voice {quoted(voice)} is not a voice of {spec.model_id}; "
            f"available: {', '.join(spec.voices)}"
        )
    rate = config.sample_rate or native_rate
    if rate not in SUPPORTED_SAMPLE_RATES:
        raise invalid(
            f"config.sample_rate {rate} Hz is not supported; use one of "
            f"{', '.join(str(r) for r in SUPPORTED_SAMPLE_RATES)} (or 0 for the model's "
            f"native {native_rate} Hz)"
        )
    opts = config.options
    speed = opts.speed or 1.0
    if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
        raise invalid(f"config.options.speed {speed:g} is out of range {SPEED_RANGE[0]}..2.0")
    if speed != 1.0 and not speed_control:
        raise invalid(
            f"config.options.speed {speed:g}: model {spec.model_id} speaks at its own pace; "
            "leave speed at 0 or 1"
        )
    target = opts.target_rms_dbfs or defaults.target_dbfs
    if not TARGET_DBFS_RANGE[0] <= target <= TARGET_DBFS_RANGE[1]:
        raise invalid(
            f"config.options.target_rms_dbfs {target:g} is out of range -40..-6 dBFS "
            "(0 = worker default)"
        )
    lookahead = opts.lookahead_ms or defaults.lookahead_ms
    if not LOOKAHEAD_MS_RANGE[0] <= lookahead <= LOOKAHEAD_MS_RANGE[1]:
        raise invalid(
            f"config.options.lookahead_ms {lookahead} is out of range 100..10000 "
            "(0 = worker default)"
        )
    return SessionParams(
        session_id=session_id,
        model_id=spec.model_id,
        voice=voice,
        sample_rate=rate,
        options=SynthesisOptions(speed=speed),
        target_dbfs=target,
        lookahead_frames=max(1, lookahead // FRAME_MS),
    )


def validate_text(text: str, *, received_chars: int) -> None:
    """Check one TextChunk given how many characters the session already received."""
    if not text:
        raise invalid("text.text is empty: send at least one character per TextChunk")
    if len(text) > MAX_CHUNK_CHARS:
        raise invalid(
            f"text.text has {len(text)} characters; a TextChunk holds at most {MAX_CHUNK_CHARS}"
        )
    reason = unspeakable(text)
    if reason is not None:
        raise invalid(f"text.text has a {reason}: send printable text (tab/newline allowed)")
    if received_chars + len(text) > MAX_SESSION_CHARS:
        raise invalid(
            f"session text exceeds {MAX_SESSION_CHARS} characters; split it over several sessions"
        )


def require_some_text(received_chars: int, saw_non_space: bool) -> None:
    if not saw_non_space:
        raise invalid("end of input before any text: send at least one non-blank TextChunk")
