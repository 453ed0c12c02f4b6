"""orchestrator.yaml: the shipped file is valid; bad keys and values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicectl.orchestrator.config import (
    OrchestratorConfigError,
    from_mapping,
    load_orchestrator_config,
)
from voicectl.orchestrator.fsm import Phase

SHIPPED = Path(__file__).parents[2] / "configs" / "orchestrator.yaml"


def test_shipped_config_loads() -> None:
    config = load_orchestrator_config(SHIPPED)
    assert config.ws_port == 8765
    assert config.llm.kind == "echo"
    assert config.policy.thresholds[Phase.SPEAKING].start_frames == 2
    assert config.policy.confirm_ms == 400
    # The shipped file spells out the defaults, level gates included.
    assert config.policy == from_mapping({}).policy
    assert config.policy.thresholds[Phase.SPEAKING].min_rms_dbfs == -45.0
    assert config.policy.thresholds[Phase.LISTENING].min_rms_dbfs == -60.0


def test_level_gate_per_phase_overrides_only_that_phase() -> None:
    config = from_mapping({"orchestrator": {"barge_in": {"thresholds": {
        "speaking": {"min_rms_dbfs": -40.5}}}}})  # fmt: skip
    speaking = config.policy.thresholds[Phase.SPEAKING]
    assert (speaking.start_frames, speaking.min_rms_dbfs) == (2, -40.5)
    assert config.policy.thresholds[Phase.BARGED_IN].min_rms_dbfs == -60.0


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"colour": 1}, "unknown key"),
        ({"ws_port": 70000}, "ws_port"),
        ({"web": "8080"}, "web must be HOST:PORT such as 127.0.0.1:8080"),
        ({"web": "127.0.0.1:99999"}, "web must be HOST:PORT"),
        ({"llm": {"kind": "gpt"}}, "llm.kind"),
        ({"llm": {"timeout_s": -1}}, "llm.timeout_s"),
        ({"llm": {"base_url": "localhost:11434/v1"}}, "llm.base_url"),
        ({"asr": {"device": "tpu"}}, "asr.device"),
        ({"barge_in": {"confirm_ms": "soon"}}, "barge_in.confirm_ms"),
        ({"barge_in": {"vad_aggressiveness": 7}}, "vad_aggressiveness"),
        (
            {"barge_in": {"thresholds": {"dreaming": {"start_frames": 1}}}},
            "thresholds: unknown key 'dreaming'; known keys: 'listening'",
        ),
        ({"barge_in": {"thresholds": {"speaking": {"start_frames": 0}}}}, "start_frames"),
        ({"barge_in": {"thresholds": {"speaking": {"min_rms_dbfs": 3}}}}, "speaking.min_rms_dbfs"),
        ({"barge_in": {"thresholds": {"speaking": {"min_rms_dbfs": "loud"}}}}, "-100..0"),
        ({"barge_in": {"thresholds": {"speaking": {"gate": -50}}}}, "unknown key"),
        ({"turns": {"max_delay_ms": "long"}}, "turns.max_delay_ms"),
        ({"turns": {"min_delay_ms": 2000, "max_delay_ms": 1000}}, "min_delay_ms <= max_delay_ms"),
        ({"turns": {"patience": 3}}, "unknown key 'turns.patience'; known keys: min_delay_ms"),
        ({"turns": [1]}, "turns must be a mapping"),
        ({"turns": {"continuation_ms": -1}}, "turns.continuation_ms"),
        ({"barge_in": {"thresholds": {"listening": {"speech_prob": 2}}}}, "listening.speech_prob"),
        ({"barge_in": {"thresholds": {"listening": {"speech_prob": "x"}}}}, "0.15..1, or null"),
    ],
)
def test_bad_values_are_named(data: dict[str, object], words: str) -> None:
    with pytest.raises(OrchestratorConfigError, match=words):
        from_mapping({"orchestrator": data})


def test_turn_delays_are_configurable() -> None:
    config = from_mapping({"orchestrator": {"turns": {"max_delay_ms": 2500,
                                                      "continuation_ms": 0}}})  # fmt: skip
    endpointing = config.policy.endpointing
    assert (endpointing.min_delay_ms, endpointing.max_delay_ms) == (240, 2500)
    assert endpointing.continuation_ms == 0


def test_silero_is_on_in_the_users_turn_and_off_under_the_reply() -> None:
    thresholds = from_mapping({}).policy.thresholds
    assert thresholds[Phase.USER_SPEAKING].speech_prob == 0.5
    assert thresholds[Phase.SPEAKING].speech_prob is None  # frame-fast barge-in onset
    config = from_mapping({"orchestrator": {"barge_in": {"thresholds": {
        "user_speaking": {"speech_prob": None}, "speaking": {"speech_prob": 0.6}}}}})  # fmt: skip
    assert config.policy.thresholds[Phase.USER_SPEAKING].speech_prob is None
    assert config.policy.thresholds[Phase.SPEAKING].speech_prob == 0.6


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(OrchestratorConfigError, match="cannot read"):
        load_orchestrator_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("orchestrator: [unclosed\n")
    with pytest.raises(OrchestratorConfigError, match="not valid YAML"):
        load_orchestrator_config(bad)


def test_a_relative_asr_model_is_relative_to_the_file(tmp_path: Path) -> None:
    config_file = tmp_path / "conf" / "orchestrator.yaml"
    config_file.parent.mkdir()
    config_file.write_text("orchestrator:\n  asr:\n    model: ../models/tiny\n")
    config = load_orchestrator_config(config_file)
    assert config.asr_model == str(tmp_path / "conf" / "../models/tiny")
    config_file.write_text("orchestrator:\n  asr:\n    model: /opt/models/tiny\n")
    assert load_orchestrator_config(config_file).asr_model == "/opt/models/tiny"


def test_the_environment_layer_sits_between_the_file_and_the_flags(tmp_path: Path) -> None:
    path = tmp_path / "orchestrator.yaml"
    path.write_text("orchestrator:\n  ws_port: 9000\n  llm:\n    model: from-file\n")
    env = {"VOICECTL_WS_PORT": "9100", "VOICECTL_LLM__MODEL": "qwen2.5"}
    assert load_orchestrator_config(path, env={}).ws_port == 9000
    from_env = load_orchestrator_config(path, env=env)
    assert (from_env.ws_port, from_env.llm.model) == (9100, "qwen2.5")
    assert from_env.llm.kind == "echo"  # the rest of llm keeps its defaults
    flags = {"llm.model": "--llm-model"}
    from_flags = load_orchestrator_config(
        path, env=env, cli={"ws_port": 9200, "llm": {"model": "llama", "kind": None}}, flags=flags
    )
    assert (from_flags.ws_port, from_flags.llm.model) == (9200, "llama")


def test_a_nested_variable_is_named_in_its_error() -> None:
    env = {"VOICECTL_BARGE_IN__THRESHOLDS__SPEAKING__START_FRAMES": "0"}
    with pytest.raises(
        OrchestratorConfigError,
        match=r"^environment: VOICECTL_BARGE_IN__THRESHOLDS__SPEAKING__START_FRAMES must be an "
        r"integer in 1\.\.100, got '0'$",
    ):
        load_orchestrator_config(None, env=env)
    phase = load_orchestrator_config(
        None, env={"VOICECTL_BARGE_IN__THRESHOLDS__SPEAKING__START_FRAMES": "5"}
    ).policy.thresholds[Phase.SPEAKING]
    assert (phase.start_frames, phase.stop_frames) == (5, 8)  # stop_frames keeps its default


def test_a_bad_flag_is_named_as_typed() -> None:
    with pytest.raises(OrchestratorConfigError, match=r"^--llm must be one of 'echo', 'openai'"):
        load_orchestrator_config(
            None, env={}, cli={"llm": {"kind": "gpt"}}, flags={"llm.kind": "--llm"}
        )
    with pytest.raises(OrchestratorConfigError, match=r"^--routing must be least-busy"):
        load_orchestrator_config(None, env={}, cli={"routing": "fastest"})


def test_a_section_variable_that_is_not_json_is_named() -> None:
    with pytest.raises(
        OrchestratorConfigError, match=r"^environment: VOICECTL_LLM must be a JSON object"
    ):
        load_orchestrator_config(None, env={"VOICECTL_LLM": "{not json"})
    whole = load_orchestrator_config(None, env={"VOICECTL_LLM": '{"model": "qwen2.5"}'})
    assert whole.llm.model == "qwen2.5"
