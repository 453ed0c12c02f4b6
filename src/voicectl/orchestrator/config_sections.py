"""The sections of orchestrator.yaml that stand on their own: barge-in and its VAD
thresholds, turn ends, TTS timeouts, auth and LiveKit. Each key once, with what it
accepts; the defaults are the runtime dataclasses' own (config.py resolves them)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode

from voicectl.config_errors import allowed, comma_list
from voicectl.livekit_tokens import LiveKitConfigError, server_url
from voicectl.orchestrator.fsm import Phase
from voicectl.orchestrator.policy import SessionPolicy, VadThresholds
from voicectl.orchestrator.quotas import ClientLimits
from voicectl.orchestrator.turns import EndpointingConfig
from voicectl.rpc.frame_watch import FIRST_FRAME_TIMEOUT_S, STALL_TIMEOUT_S
from voicectl.session_tokens import MIN_SECRET_CHARS

_POLICY = SessionPolicy()
_TURNS = EndpointingConfig()
_LIMITS = ClientLimits()


class Keys(BaseModel):
    """A section: unknown keys are errors, values are frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ThresholdKeys(Keys):
    """One phase's VAD thresholds; keys left out keep that phase's defaults."""

    start_frames: int | None = Field(None, ge=1, le=100)
    stop_frames: int | None = Field(None, ge=1, le=500)
    min_rms_dbfs: float | None = Field(
        None, ge=-100.0, le=0.0, json_schema_extra=allowed("a level in dBFS, -100..0")
    )
    speech_prob: float | None = Field(
        None,
        ge=0.15,
        le=1.0,
        json_schema_extra=allowed(
            "a Silero speech probability, 0.15..1, or null (webrtcvad alone)"
        ),
    )

    def over(self, base: VadThresholds) -> VadThresholds:
        given = {name: getattr(self, name) for name in self.model_fields_set}
        return replace(base, **given)


class BargeInKeys(Keys):
    confirm_ms: int = Field(_POLICY.confirm_ms, ge=0, le=5000)
    vad_aggressiveness: int = Field(_POLICY.vad_aggressiveness, ge=0, le=3)
    pacer_lookahead_frames: int = Field(_POLICY.pacer_lookahead_frames, ge=0, le=50)
    partial_interval_ms: int = Field(_POLICY.partial_interval_ms, ge=100, le=10_000)
    speculate_after_frames: int = Field(_POLICY.speculate_after_frames, ge=1, le=100)
    thresholds: dict[Phase, ThresholdKeys] = Field(default_factory=dict)


class TurnsKeys(Keys):
    min_delay_ms: int = Field(_TURNS.min_delay_ms, ge=0, le=10_000)
    max_delay_ms: int = Field(_TURNS.max_delay_ms, ge=0, le=10_000)
    resume_margin_ms: int = Field(_TURNS.resume_margin_ms, ge=0, le=10_000)
    continuation_ms: int = Field(_TURNS.continuation_ms, ge=0, le=10_000)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_delay_ms > self.max_delay_ms:
            raise ValueError(
                f"need min_delay_ms <= max_delay_ms, got {self.min_delay_ms} "
                f"and {self.max_delay_ms}"
            )
        return self


class TtsKeys(Keys):
    """How long a worker may stay silent while it owes audio (rpc/frame_watch.py)."""

    first_frame_timeout_s: float = Field(
        FIRST_FRAME_TIMEOUT_S, ge=1.0, le=600.0,
        json_schema_extra=allowed("seconds, 1..600 (a model load included)"),
    )  # fmt: skip
    stall_timeout_s: float = Field(
        STALL_TIMEOUT_S, ge=0.5, le=600.0, json_schema_extra=allowed("seconds, 0.5..600")
    )


Token = Annotated[str, StringConstraints(strip_whitespace=True, min_length=16)]


class AuthKeys(Keys):
    tokens: Annotated[tuple[Token, ...], NoDecode] = Field(
        (), json_schema_extra=allowed("tokens of 16+ characters (a list, or comma-separated)")
    )
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), json_schema_extra=allowed("origins such as https://app.example.com, or *")
    )
    token_secret: str = Field(
        "", json_schema_extra=allowed(f"a secret of {MIN_SECRET_CHARS}+ characters, or empty")
    )  # verifies signed short-lived tokens (voicectl token --orchestrator)
    # Per client (its token, or its IP without tokens), then per conversation: quotas.py.
    sessions_per_client: int = Field(_LIMITS.sessions, ge=0, le=100_000)
    messages_per_second: float = Field(_LIMITS.messages_per_second, ge=0.0, le=100_000.0)
    audio_realtime_factor: float = Field(_LIMITS.audio_realtime_factor, ge=0.0, le=1000.0)
    audio_burst_seconds: float = Field(_LIMITS.audio_burst_s, ge=0.0, le=3600.0)

    _lists = field_validator("tokens", "allowed_origins", mode="before")(comma_list)

    @field_validator("token_secret")
    @classmethod
    def _long_secret(cls, value: str) -> str:
        if value.strip() and len(value.strip()) < MIN_SECRET_CHARS:
            raise ValueError(f"must be {MIN_SECRET_CHARS}+ characters (openssl rand -hex 32)")
        return value.strip()


class LiveKitKeys(Keys):
    url: str = Field(
        "", json_schema_extra=allowed("ws://HOST:PORT or wss://HOST of a LiveKit server, or empty")
    )
    api_key: str = ""
    api_secret: str = ""
    agent_name: str = Field(
        "", max_length=128, json_schema_extra=allowed("a name of 1..128 characters, or empty")
    )
    public_url: str = Field(
        "", json_schema_extra=allowed("the ws:// or wss:// URL browsers reach, or empty")
    )

    @field_validator("url", "public_url")
    @classmethod
    def _server_url(cls, value: str) -> str:
        try:
            return server_url(value) if value.strip() else ""
        except LiveKitConfigError as exc:
            raise ValueError(str(exc)) from None
