"""LoRA adapters in the catalog: from a voicepack's ``loras`` and from ``--lora-path``.

No model loads here: these are the checks a worker makes when it starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_voicepacks import GOOD, pack, with_joe_files
from voicectl.worker.adapters.base import ModelSpec
from voicectl.worker.adapters.lora import attach_lora_path, base_of, find_loras, lora_spec
from voicectl.worker.config import WorkerConfig
from voicectl.worker.server import build_catalog
from voicectl.worker.voicepacks import VoicepackError, load_voicepacks

CSM = ModelSpec(model_id="csm:one", adapter="csm", voices=("default", "second"), sample_rate=24000,
                license="Apache-2.0")  # fmt: skip


def adapter_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    return path


def test_a_lora_is_a_model_on_its_base(tmp_path: Path) -> None:
    spec = lora_spec(CSM, "calm", adapter_folder(tmp_path / "calm"))
    assert spec.model_id == "csm:one+lora:calm"
    assert spec.adapter == "lora"
    assert base_of(spec) == "csm:one"
    assert base_of(CSM) is None
    assert spec.voices == CSM.voices
    assert spec.sample_rate == 24000


def test_lora_names_and_folders_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"holds no adapter_config\.json"):
        lora_spec(CSM, "calm", tmp_path)
    with pytest.raises(ValueError, match=r"LoRA name 'a b' .* is invalid"):
        lora_spec(CSM, "a b", adapter_folder(tmp_path / "x"))


def test_lora_path_is_one_adapter_or_a_folder_of_them(tmp_path: Path) -> None:
    one = adapter_folder(tmp_path / "one" / "warm")
    assert find_loras(one) == [("warm", one)]
    many = tmp_path / "many"
    calm, bright = adapter_folder(many / "calm"), adapter_folder(many / "bright")
    (many / "notes").mkdir()
    assert find_loras(many) == [("bright", bright), ("calm", calm)]
    with pytest.raises(ValueError, match="holds no peft adapter"):
        find_loras(many / "notes")
    with pytest.raises(ValueError, match="is not a directory"):
        find_loras(tmp_path / "missing")


def test_lora_path_needs_exactly_one_model_that_takes_lora(tmp_path: Path) -> None:
    folder = adapter_folder(tmp_path / "calm")
    specs = attach_lora_path(folder, [CSM], {"csm"})
    assert [s.model_id for s in specs] == ["csm:one+lora:calm"]
    with pytest.raises(ValueError, match="found none"):
        attach_lora_path(folder, [], {"csm"})
    two = [CSM, ModelSpec(model_id="csm:two", adapter="csm")]
    with pytest.raises(ValueError, match=r"found csm:one, csm:two; .* under 'loras'"):
        attach_lora_path(folder, two, {"csm"})


def test_worker_catalog_with_lora_path_but_no_csm_model_says_so(tmp_path: Path) -> None:
    config = WorkerConfig(lora_path=adapter_folder(tmp_path / "calm"))
    with pytest.raises(VoicepackError, match="takes LoRA adapters, found none"):
        build_catalog(config)


def test_a_voicepack_whose_adapter_takes_no_lora_cannot_list_loras(tmp_path: Path) -> None:
    with_joe_files(tmp_path)
    pack(tmp_path, GOOD + "loras: {calm: calm}\n")
    with pytest.raises(VoicepackError, match=r"loras: adapter 'piper' takes no LoRA adapters"):
        load_voicepacks(tmp_path)


def test_a_voicepack_cannot_name_the_lora_adapter(tmp_path: Path) -> None:
    with_joe_files(tmp_path)
    pack(tmp_path, GOOD.replace("adapter: piper", "adapter: lora"))
    with pytest.raises(
        VoicepackError, match=r"adapter must be one of \['csm', 'mock', 'piper', 'xtts'\]"
    ):
        load_voicepacks(tmp_path)


def test_a_lora_path_name_already_in_a_voicepack_is_an_error(tmp_path: Path) -> None:
    folder = adapter_folder(tmp_path / "calm")
    taken = lora_spec(CSM, "calm", folder)
    with pytest.raises(ValueError, match=r"csm:one\+lora:calm is already in"):
        attach_lora_path(folder, [CSM, taken], {"csm"})


def test_off_paths_in_a_worker_yaml_are_none(tmp_path: Path) -> None:
    from voicectl.worker.config import load_worker_config

    path = tmp_path / "worker.yaml"
    path.write_text("worker:\n  lora_path: none\n  voicepacks_dir: off\n")
    config = load_worker_config(yaml_path=path)
    assert config.lora_path is None
    assert config.voicepacks_dir is None
