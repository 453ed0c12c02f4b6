"""Scale-out settings of the worker: registry keys, GPU lists, child process layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voicectl.worker.config import ConfigError, load_worker_config
from voicectl.worker.registration import RegistrationSettings, guess_advertise_host
from voicectl.worker.supervisor import child_specs, write_child_config


def test_registry_keys_and_precedence(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("worker:\n  redis: redis://yaml:6379/0\n  heartbeat: 1\n  gpu: [0, 1]\n")
    config = load_worker_config(
        yaml_path=path, env={"VOICECTL_REDIS": "rediss://:pw@env:6380/1"}, cli={"gpu": "2"}
    )
    assert config.redis_url == "rediss://:pw@env:6380/1"
    assert config.heartbeat_seconds == 1.0
    assert config.registry_ttl == 3.0
    assert config.gpus == (2,)
    assert load_worker_config(env={}, cli={"registry_ttl": 10}).registry_ttl == 10.0


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("redis", "http://h", "--redis must be a URL starting with redis://"),
        ("gpu", "0,x", "--gpu must be 'all' or comma-separated GPU indices"),
        ("gpu", "1,1", "--gpu lists an index twice"),
        ("heartbeat", "0", r"--heartbeat must be a number in 0\.05\.\.300, got '0'"),
        ("registry_ttl", "-1", r"--registry-ttl must be in 0\.1\.\.3600"),
    ],
)
def test_bad_values_name_the_key(key: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_worker_config(env={}, cli={key: value})


def test_gpu_all_without_gpus_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="found no GPU"):
        load_worker_config(env={}, cli={"gpu": "all"})


def test_ttl_must_exceed_heartbeat() -> None:
    with pytest.raises(ValueError, match="must exceed the heartbeat"):
        RegistrationSettings(worker_id="w", advertise_host="h", interval=2, ttl=2)


def test_advertise_host_guess() -> None:
    assert guess_advertise_host("10.1.2.3") == "10.1.2.3"
    assert guess_advertise_host("0.0.0.0", None)  # the host name, never empty
    assert guess_advertise_host("0.0.0.0", "127.0.0.1")  # loopback route: host name


def test_children_get_one_gpu_each_and_the_resolved_config(tmp_path: Path) -> None:
    config = load_worker_config(
        env={}, cli={"gpu": "0,3", "port": 6000, "redis": "redis://h:1/0", "ttl": "never"}
    )
    path = write_child_config(config, tmp_path)
    assert load_worker_config(yaml_path=path, env={}) == load_worker_config(
        env={}, cli={"port": 6000, "redis": "redis://h:1/0", "ttl": "never"}
    )
    assert json.loads(path.read_text())["worker"]["gpu"] == []
    specs = child_specs(config, path)
    assert [(s.name, s.env) for s in specs] == [
        ("gpu0", {"CUDA_VISIBLE_DEVICES": "0"}),
        ("gpu3", {"CUDA_VISIBLE_DEVICES": "3"}),
    ]
    assert [s.argv[s.argv.index("--port") + 1] for s in specs] == ["6000", "6001"]
    assert [s.argv[s.argv.index("--gpu") + 1] for s in specs] == ["0", "3"]
    zero = child_specs(load_worker_config(env={}, cli={"gpu": "0,1", "port": 0}), path)
    assert [s.argv[s.argv.index("--port") + 1] for s in zero] == ["0", "0"]
