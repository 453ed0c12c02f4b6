"""Worker configuration: precedence CLI > env > YAML > defaults, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicectl.worker.config import ConfigError, load_worker_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "worker.yaml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    config = load_worker_config(env={})
    assert config.port == 50051
    assert config.max_loaded == 3
    assert config.ttl_seconds == 300.0


def test_precedence_cli_over_env_over_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "worker:\n  port: 6000\n  max_loaded: 2\n  ttl: 10\n  preload: [a, b]\n")
    from_yaml = load_worker_config(yaml_path=path, env={})
    assert (from_yaml.port, from_yaml.max_loaded, from_yaml.ttl_seconds) == (6000, 2, 10.0)
    assert from_yaml.preload == ("a", "b")
    env = {"VOICECTL_PORT": "7000", "VOICECTL_MAX_LOADED": "4"}
    from_env = load_worker_config(yaml_path=path, env=env)
    assert (from_env.port, from_env.max_loaded) == (7000, 4)
    from_cli = load_worker_config(yaml_path=path, env=env, cli={"port": 8000, "max_loaded": None})
    assert (from_cli.port, from_cli.max_loaded) == (8000, 4)


def test_sizes_and_never_ttl() -> None:
    config = load_worker_config(env={}, cli={"memory_budget": "4GiB", "ttl": "never"})
    assert config.memory_budget_bytes == 4 * 2**30
    assert config.ttl_seconds is None


@pytest.mark.parametrize(
    ("yaml_text", "words"),
    [
        ("port: lots\n", "port"),
        ("max_loaded: 0\n", "max_loaded"),
        ("memory_budget: 4 bananas\n", "memory_budget"),
        ("colour: blue\n", "unknown key 'colour'"),
        ("warmup: maybe\n", "warmup"),
        ("- just\n- a list\n", "mapping"),
        ("port: [unclosed\n", "not valid YAML"),
        ("lookahead_ms: 5\n", "lookahead_ms"),
    ],
)
def test_bad_yaml_names_the_key(tmp_path: Path, yaml_text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_worker_config(yaml_path=write(tmp_path, yaml_text), env={})


def test_bad_env_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="environment: VOICECTL_PORT must be an integer in"):
        load_worker_config(env={"VOICECTL_PORT": "x"})


def test_one_bad_value_is_named_as_the_user_typed_it(tmp_path: Path) -> None:
    """The file and key, the variable, or the flag: whichever layer gave the value."""
    path = write(tmp_path, "worker:\n  max_loaded: 0\n")
    allowed = "must be an integer in 1..64, got"
    with pytest.raises(ConfigError, match=f"^{path}: max_loaded {allowed} 0$"):
        load_worker_config(yaml_path=path, env={})
    with pytest.raises(ConfigError, match=f"^environment: VOICECTL_MAX_LOADED {allowed} '0'$"):
        load_worker_config(yaml_path=path, env={"VOICECTL_MAX_LOADED": "0"})
    with pytest.raises(ConfigError, match=f"^--max-loaded {allowed} 99$"):
        load_worker_config(env={}, cli={"max_loaded": 99})
    flags = {"voicepacks_dir": "--voicepacks"}
    with pytest.raises(ConfigError, match=r"^--voicepacks must be a path"):
        load_worker_config(env={}, cli={"voicepacks_dir": 3.5j}, flags=flags)
    # A later layer that fixes the value wins; the bad file value is then unused.
    fixed = load_worker_config(yaml_path=path, env={}, cli={"max_loaded": 2})
    assert fixed.max_loaded == 2


def test_an_unknown_key_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "worker:\n  max_loded: 2\n")
    with pytest.raises(ConfigError, match="unknown key 'max_loded'; known keys: host, port"):
        load_worker_config(yaml_path=path, env={})


def test_variables_of_other_tools_are_not_keys() -> None:
    """VOICECTL_NO_SKIPS and VOICECTL_CACHE_DIR configure tests and caches, not the worker."""
    config = load_worker_config(env={"VOICECTL_NO_SKIPS": "1", "VOICECTL_CACHE_DIR": "/tmp/x"})
    assert config == load_worker_config(env={})


def test_lists_from_a_variable_are_comma_separated() -> None:
    config = load_worker_config(env={"VOICECTL_PRELOAD": "mock:a, mock:b", "VOICECTL_GPU": "0,2"})
    assert (config.preload, config.gpus) == (("mock:a", "mock:b"), (0, 2))


def test_missing_yaml_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_worker_config(yaml_path=tmp_path / "absent.yaml", env={})


def test_shipped_config_is_valid() -> None:
    config = load_worker_config(
        yaml_path=Path(__file__).parents[2] / "configs" / "worker.yaml", env={}
    )
    assert config.port == 50051


def test_a_relative_path_in_a_file_is_relative_to_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = tmp_path / "configs"
    (tmp_path / "packs").mkdir()
    configs.mkdir()
    yaml_file = configs / "worker.yaml"
    yaml_file.write_text("worker:\n  voicepacks_dir: ../packs\n")
    monkeypatch.chdir(tmp_path / "packs")  # anywhere else
    config = load_worker_config(yaml_path=yaml_file, env={})
    assert config.voicepacks_dir == configs / "../packs"
    assert config.voicepacks_dir is not None
    assert config.voicepacks_dir.is_dir()
    flag = load_worker_config(yaml_path=yaml_file, env={}, cli={"voicepacks_dir": "here"})
    assert flag.voicepacks_dir == Path("here")  # a flag is relative to where you are


def test_the_shipped_worker_config_works_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = Path(__file__).resolve().parents[2] / "configs" / "worker.yaml"
    monkeypatch.chdir(tmp_path)
    config = load_worker_config(yaml_path=shipped, env={})
    assert config.voicepacks_dir is not None
    assert (config.voicepacks_dir / "en_US-joe-medium" / "voicepack.yaml").is_file()
