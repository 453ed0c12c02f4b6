"""``voicectl profile`` as a user runs it: real py-spy, real torch.profiler, real workers.

py-spy needs ptrace. Where it is denied (exit 7) the py-spy tests FAIL and say so:
a flamegraph that cannot be taken is a broken feature here, not a skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_cli import free_port, wait_for_port
from voicectl.cli.app import app as voicectl_app
from voicectl.profiling import PtraceDenied, ToolMissing
from voicectl.profiling.pyspy import find_pyspy, is_ptrace_denied
from voicectl.profiling.torch_trace import STAGES, TORCH_MISSING

# `voicectl profile` once cli/app.py registers the group; its own module until then.
REGISTERED = any(group.name == "profile" for group in voicectl_app.registered_groups)
PROFILE = [
    sys.executable,
    "-m",
    *(["voicectl", "profile"] if REGISTERED else ["voicectl.cli.profile"]),
]
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
TORCH_INSTALL = "uv sync --extra csm"


def profile(
    *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, *PROFILE, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env or ENV,
        check=False,
    )


def require_ptrace(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode == PtraceDenied.exit_code:
        pytest.fail(
            "py-spy cannot attach: ptrace is not allowed in this environment, so the "
            "flamegraph feature is untested here. Grant it (docker --cap-add SYS_PTRACE, "
            f"kernel.yama.ptrace_scope=0).\n{result.stderr}"
        )


def check_svg(path: Path, report: dict[str, object]) -> None:
    data = path.read_bytes()
    assert len(data) > 1000, data[:200]
    assert b"<svg" in data[:4000]
    assert report["path"] == str(path)
    assert report["bytes"] == len(data)
    samples = report["samples"]
    assert isinstance(samples, int)
    assert samples > 0


@pytest.fixture(scope="module")
def worker_pid() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicectl", "worker", "--port", str(port),
         "--default-model", "mock:sine"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )  # fmt: skip
    try:
        wait_for_port(port, proc)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


# ------------------------------------------------------------------------ py-spy


@pytest.mark.parametrize("bench", ["say", "fal"])
def test_pyspy_flamegraph_of_an_embedded_run(bench: str, tmp_path: Path) -> None:
    out = tmp_path / "flame.svg"
    result = profile("pyspy", "--bench", bench, "--model", "mock:sine", "--runs", "2",
                     "--out", str(out), "--json")  # fmt: skip
    require_ptrace(result)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    check_svg(out, report)
    assert report["target"] == f"voicectl {bench} (embedded)"
    run = report["run"]
    assert isinstance(run, dict)
    assert run["model_id"] == "mock:sine"


def test_pyspy_attaches_to_a_running_worker(worker_pid: int, tmp_path: Path) -> None:
    out = tmp_path / "worker.svg"
    result = profile("pyspy", "--pid", str(worker_pid), "--duration", "2", "--idle",
                     "--out", str(out))  # fmt: skip
    require_ptrace(result)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    assert f"from pid {worker_pid}" in result.stdout
    assert b"<svg" in out.read_bytes()[:4000]


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="dropping CAP_SYS_PTRACE to provoke the denial needs root and setpriv",
)
def test_pyspy_without_ptrace_exits_7_and_says_how_to_allow_it(
    worker_pid: int, tmp_path: Path
) -> None:
    prefix = ("setpriv", "--bounding-set", "-sys_ptrace")
    result = profile("pyspy", "--pid", str(worker_pid), "--duration", "1",
                     "--out", str(tmp_path / "x.svg"), prefix=prefix)  # fmt: skip
    assert result.returncode == 7, result.stderr
    message = " ".join(result.stderr.split())
    assert "ptrace is not allowed here" in message
    assert "--cap-add SYS_PTRACE" in message
    assert "kernel.yama.ptrace_scope" in message
    assert result.stdout == ""


def test_pyspy_usage_and_unknown_pid() -> None:
    neither = profile("pyspy")
    assert neither.returncode == 2
    assert "exactly one of --pid PID or --bench" in neither.stderr
    assert profile("pyspy", "--bench", "jitter").returncode == 2
    assert profile("pyspy", "--bench", "say", "--duration", "3").returncode == 2
    gone = profile("pyspy", "--pid", str(2**22 + 1))  # above any pid_max
    assert gone.returncode == 4
    assert "no process with pid" in gone.stderr


def test_missing_pyspy_names_the_install(tmp_path: Path) -> None:
    with pytest.raises(ToolMissing, match=r"pip install py-spy") as raised:
        find_pyspy(exe_dir=tmp_path, path=str(tmp_path))
    assert raised.value.exit_code == 6


@pytest.mark.parametrize(
    ("output", "denied"),
    [
        ("Permission Denied: Try running again with elevated permissions by going 'sudo", True),
        ("Caused by:\n    0: Permission denied (os error 13)", True),
        ("Error: Operation not permitted (os error 1)", True),
        ("Please make sure you started your container with the SYS_PTRACE capability", True),
        ("Error: Failed to write flamegraph: No stack counts found", False),
        ("Error: Failed to get process executable name. No such file or directory", False),
    ],
)
def test_ptrace_denials_are_recognized(output: str, denied: bool) -> None:
    assert is_ptrace_denied(output) is denied


# ------------------------------------------------------------------- torch.profiler


def test_torch_trace_on_cpu(tmp_path: Path) -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip(f"needs torch (CI installs it): {TORCH_INSTALL}")
    out = tmp_path / "trace.json"
    result = profile("torch", "--model", "mock:sine", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["path"] == str(out)
    assert report["bytes"] == out.stat().st_size
    assert report["frames"] > 0
    assert report["audio_seconds"] > 0
    trace = json.loads(out.read_text())
    events = [e for e in trace["traceEvents"] if e.get("ph") == "X"]
    assert len(events) >= 1
    assert report["events"] == len(events)
    names = {e["name"] for e in events}
    assert set(STAGES) <= names, names
    assert set(report["stages"]) == set(STAGES)
    assert report["stages"]["voicectl.request"]["count"] == 1
    assert report["stages"]["voicectl.model.chunk"]["count"] >= 2


def test_torch_trace_table_and_unknown_model(tmp_path: Path) -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip(f"needs torch (CI installs it): {TORCH_INSTALL}")
    table = profile("torch", "--out", str(tmp_path / "t.json"), "--text", "Hi there.")
    assert table.returncode == 0, table.stderr
    assert all(stage in table.stdout for stage in STAGES)
    unknown = profile("torch", "--model", "nope:missing", "--out", str(tmp_path / "u.json"))
    assert unknown.returncode == 4
    assert "unknown model 'nope:missing'" in unknown.stderr


def test_torch_missing_exits_6(tmp_path: Path) -> None:
    shim = tmp_path / "shim" / "torch"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text('raise ImportError("torch hidden by test_profile")\n')
    env = {
        **ENV,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(shim.parent), ENV.get("PYTHONPATH")])),
    }
    out = tmp_path / "trace.json"
    result = profile("torch", "--out", str(out), env=env)
    assert result.returncode == 6, result.stderr
    assert TORCH_MISSING in " ".join(result.stderr.split())
    assert not out.exists()
