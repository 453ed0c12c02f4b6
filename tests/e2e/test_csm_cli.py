"""docs/adapters.md's Sesame CSM lines as a user runs them, on the tiny checkpoint.

`voicectl worker --voicepacks voicepacks --lora-path loras` as a process, then `models
load`, `say` with a LoRA and `models ps` against it; the folder layout is the doc's
(voicepacks/<pack>/ and loras/<name>/ side by side), the model id is the tiny one's.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_cli import ENV, VOICECTL, free_port, run, wait_for_port, wav_info
from voicectl.bench.tiny_csm import TinyCsm

pytestmark = pytest.mark.slow

LORA = "csm:tiny+lora:calm"


@pytest.fixture(scope="module")
def csm_worker(tiny_csm: TinyCsm) -> Iterator[str]:
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the worker
    args = ["worker", "--port", str(port), "--voicepacks", "voicepacks", "--lora-path", "loras"]
    proc = subprocess.Popen(
        [*VOICECTL, *args, "--default-model", "mock:sine"],
        stdout=subprocess.DEVNULL, stderr=log, text=True, env=ENV, cwd=tiny_csm.loras.parent,
    )  # fmt: skip
    try:
        wait_for_port(port, proc)
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def test_load_say_and_ps_with_a_lora(csm_worker: str, tmp_path: Path) -> None:
    loaded = run("models", "load", LORA, "--worker", csm_worker, "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["state"] == "ready"

    out = f"{tmp_path}/csm.wav"
    said = run("say", "Hello from Sesame.", "--model", LORA, "--worker", csm_worker,
               "--output", out)  # fmt: skip
    assert said.returncode == 0, said.stderr
    rate, seconds = wav_info(Path(out))
    assert rate == 24000
    assert seconds > 0.5

    ps = run("models", "ps", "--worker", csm_worker, "--json")
    resident = {m["model_id"]: m for m in json.loads(ps.stdout)["models"]}
    assert {"csm:tiny", LORA} <= set(resident)
    assert resident[LORA]["adapter"] == "lora"
    assert resident["csm:tiny"]["until"] == "held by 1 LoRA"
    assert resident["csm:tiny"]["refcount"] == 1  # held by the LoRA
    table = run("models", "ps", "--worker", csm_worker)
    assert LORA in table.stdout


def test_an_unknown_lora_is_exit_4_and_lists_the_models(csm_worker: str, tmp_path: Path) -> None:
    said = run("say", "Hi.", "--model", "csm:tiny+lora:nope", "--worker", csm_worker,
               "--output", f"{tmp_path}/x.wav")  # fmt: skip
    assert said.returncode == 4
    assert LORA in said.stderr


def test_a_lora_path_without_a_csm_model_stops_the_worker(tiny_csm: TinyCsm) -> None:
    started = run("worker", "--port", str(free_port()), "--lora-path", str(tiny_csm.loras))
    assert started.returncode == 2
    assert "takes LoRA adapters, found none" in started.stderr


def test_bench_fal_on_the_tiny_model_and_a_lora(csm_worker: str) -> None:
    """docs/benchmarks.md's CSM figures come from this command with --runs 20."""
    for model in ("csm:tiny", LORA):
        bench = run("bench", "fal", "--worker", csm_worker, "--model", model, "--runs", "3",
                    "--warmup", "1", "--json")  # fmt: skip
        assert bench.returncode == 0, bench.stderr
        report = json.loads(bench.stdout)
        print(f"\n{model}: {report}")
        assert report["runs"] == 3
        assert report["model_id"] == model
        assert report["first_audio_ms"]["p50"] > 0
        assert 0 < report["rtf"]["p50"] < 1


REPO = Path(__file__).parents[2]


def test_the_gpu_check_script_runs_its_checks_on_the_cpu(tmp_path: Path) -> None:
    """scripts/gpu-check.sh as a GPU machine runs it, with --device cpu (no GPU here)."""
    out = tmp_path / "gpu-check.json"
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "gpu-check.sh"), "cpu", str(out), "--runs", "3",
         "--cycles", "2"],
        capture_output=True, text=True, timeout=600, env=ENV, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    csm = report["adapters"]["csm"]
    print(f"\n{json.dumps(csm)}")
    assert report["device"] == "cpu"
    assert report["ok"] is True
    assert csm["pause_resume_exact"] is True
    assert csm["csm:tiny"]["first_audio_ms"]["p50"] > 0
    assert 0 < csm["csm:tiny+lora:calm"]["rtf"]["p50"] < 1
    assert csm["lora"]["load_ms"] > 0
    assert csm["lora"]["base_held_by"] == 2  # calm and bright resident on one base
    assert csm["memory"]["cycles"] == 2
    assert isinstance(csm["memory"]["growth_bytes"], int)
    xtts = report["adapters"]["xtts"]
    assert xtts["pause_resume_exact"] is True
    assert xtts["clone_ms"] > 0
    assert xtts["xtts:tiny"]["first_audio_ms"]["p50"] > 0


def test_the_gpu_check_without_a_gpu_says_so() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the check would run")
    done = run("bench", "gpu", "--device", "cuda", "--out", "unused.json")
    assert done.returncode == 6
    assert "sees no CUDA GPU; use --device cpu" in done.stderr
