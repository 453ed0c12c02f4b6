"""`voicectl models pull` against a local stand-in of the hub's file API (HF_ENDPOINT)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_cli import ENV, run
from tests.integration.hub_server import hub_server
from voicectl.worker.voicepacks import load_voicepacks

PACK = """\
id: piper:en_GB-test-low
adapter: piper
files:
  model: voices/test.onnx
  config: voices/test.onnx.json
sample_rate: 22050
license: MIT
hub:
  repo: someone/piper-voices
  revision: main
"""


def repo_with_files(root: Path) -> Path:
    repo = root / "repo"
    (repo / "voices").mkdir(parents=True)
    (repo / "voices" / "test.onnx").write_bytes(b"\x08\x07" + bytes(range(256)) * 400)
    (repo / "voices" / "test.onnx.json").write_text('{"audio": {"sample_rate": 22050}}')
    return repo


def voicepacks(root: Path, text: str = PACK) -> Path:
    packs = root / "voicepacks"
    (packs / "en_GB-test-low").mkdir(parents=True)
    (packs / "en_GB-test-low" / "voicepack.yaml").write_text(text)
    return packs


def pull(packs: Path, name: str, endpoint: str, *extra: str) -> tuple[int, str, str]:
    env = {**ENV, "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0",
           "HF_HOME": str(packs.parent / "hf-home")}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "voicectl", "models", "pull", name, "--voicepacks", str(packs),
         *extra], capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def test_pull_downloads_exactly_the_listed_files_and_the_worker_can_find_them(
    tmp_path: Path,
) -> None:
    repo = repo_with_files(tmp_path)
    packs = voicepacks(tmp_path)
    before = run("worker", "--voicepacks", str(packs), "--port", "0", timeout=60)
    assert before.returncode == 2
    assert "voicectl models pull piper:en_GB-test-low" in before.stderr  # says how to fix it
    with hub_server({"someone/piper-voices": repo}) as hub:
        code, out, err = pull(packs, "piper:en_GB-test-low", hub.url, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["repo"] == "someone/piper-voices"
    assert report["endpoint"] == hub.url
    assert {f["name"] for f in report["files"]} == {"model", "config"}
    folder = packs / "en_GB-test-low"
    for relative in ("voices/test.onnx", "voices/test.onnx.json"):
        assert (folder / relative).read_bytes() == (repo / relative).read_bytes()
    (spec,) = load_voicepacks(packs)  # what the worker reads at start: its files are there
    assert spec.files["model"] == (folder / "voices" / "test.onnx").resolve()
    assert any(r.startswith("GET /someone/piper-voices/resolve/main/voices/test.onnx")
               for r in hub.requests)  # fmt: skip
    with hub_server({"someone/piper-voices": repo}) as again:  # by folder name this time
        code, out, err = pull(packs, "en_GB-test-low", again.url)
    assert code == 0, err
    assert "test.onnx" in out
    assert not any(r.startswith("GET /someone") for r in again.requests)  # had them: no body


def test_pull_errors_name_what_is_wrong(tmp_path: Path) -> None:
    repo = tmp_path / "empty-repo"
    repo.mkdir()
    packs = voicepacks(tmp_path)
    with hub_server({"someone/piper-voices": repo}) as hub:
        code, _, err = pull(packs, "piper:en_GB-test-low", hub.url)
    assert code == 4
    assert "has no file 'voices/test.onnx'" in err
    code, _, err = pull(packs, "piper:nope", "http://127.0.0.1:9")
    assert code == 2
    assert "no voicepack" in err
    code, _, err = pull(packs, "piper:en_GB-test-low", "http://127.0.0.1:9")  # nothing listens
    assert code == 3
    assert "cannot reach the hub at http://127.0.0.1:9" in err
    plain = voicepacks(tmp_path / "plain", PACK.split("hub:")[0])
    code, _, err = pull(plain, "piper:en_GB-test-low", "http://127.0.0.1:9")
    assert code == 2
    assert "no 'hub' section" in err
