"""py-spy flamegraphs of a running process (by pid) or of an embedded ``voicectl`` run.

py-spy reads the target's memory from outside, through ptrace: it needs the same
user as the target (or root) and, in containers, the SYS_PTRACE capability.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from voicectl.profiling import ProfileError, PtraceDenied, TargetNotFound, ToolMissing, UsageError

BENCHES = ("fal", "say")
INSTALL_HINT = (
    "py-spy is not installed: run `uv sync` (it is a dev dependency of voicectl) "
    "or `pip install py-spy`"
)
PTRACE_HINT = (
    "ptrace is not allowed here, so py-spy cannot read the target process. Allow it: "
    "run as root or as the target's user; in Docker start the container with "
    "`--cap-add SYS_PTRACE` (Kubernetes: securityContext.capabilities.add: [SYS_PTRACE]); "
    "on a host with Yama, `sudo sysctl kernel.yama.ptrace_scope=0` "
    "(1 only lets a process trace its own children)."
)
# What py-spy prints when the kernel refuses: as a user ("Permission Denied: Try running
# again with elevated permissions"), as root without CAP_SYS_PTRACE ("Permission denied
# (os error 13)"), under Yama or seccomp ("Operation not permitted (os error 1)"), or its
# Docker hint (SYS_PTRACE).
_DENIED = re.compile(
    r"permission denied|operation not permitted|sys_ptrace|ptrace_scope|os error (?:1|13)\)",
    re.IGNORECASE,
)
_SAMPLES = re.compile(r"Samples: (\d+) Errors: (\d+)")
_NO_SAMPLES = "No stack counts found"


@dataclass(frozen=True, kw_only=True)
class Flamegraph:
    """A written flamegraph and what py-spy said about it."""

    path: Path
    bytes: int
    samples: int | None
    errors: int | None
    target: str
    rate: int
    seconds: float
    run: dict[str, object] | None  # the profiled voicectl run's own JSON report (--bench)

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "bytes": self.bytes,
            "samples": self.samples,
            "errors": self.errors,
            "target": self.target,
            "rate": self.rate,
            "seconds": round(self.seconds, 3),
            "run": self.run,
        }


def find_pyspy(exe_dir: Path | None = None, path: str | None = None) -> str:
    """py-spy beside this interpreter (the venv's bin/), else on PATH; ToolMissing if neither."""
    folder = exe_dir if exe_dir is not None else Path(sys.executable).parent
    local = folder / "py-spy"
    if local.is_file():
        return str(local)
    found = shutil.which("py-spy", path=path)
    if found is None:
        raise ToolMissing(INSTALL_HINT)
    return found


def is_ptrace_denied(output: str) -> bool:
    return _DENIED.search(output) is not None


def bench_command(bench: str, *, model: str, runs: int, text: str, workdir: Path) -> list[str]:
    """The ``python -m voicectl ...`` run that ``--bench`` profiles (an embedded worker)."""
    voicectl = [sys.executable, "-m", "voicectl"]
    model_args = ["--model", model] if model else []
    if bench == "fal":
        text_args = ["--text", text] if text else []
        return [*voicectl, "bench", "fal", "--runs", str(runs), "--warmup", "1",
                *model_args, *text_args, "--json"]  # fmt: skip
    if bench == "say":
        out = str(workdir / "say.wav")
        spoken = text or "Hello there. This is one synthesis under py-spy."
        return [*voicectl, "say", spoken, "--out", out, *model_args, "--json"]
    raise UsageError(f"--bench must be one of {', '.join(BENCHES)}, got {bench!r}")


def record_pid(pid: int, *, duration: int, out: Path, rate: int, idle: bool) -> Flamegraph:
    """Attach to a running process for ``duration`` seconds."""
    if not psutil.pid_exists(pid):
        raise TargetNotFound(f"no process with pid {pid}")
    args = ["--pid", str(pid), "--duration", str(duration)]
    return _record(args, target=f"pid {pid}", out=out, rate=rate, idle=idle,
                   timeout=duration + 60.0)  # fmt: skip


def record_command(
    command: list[str], *, target: str, out: Path, rate: int, idle: bool
) -> Flamegraph:
    """Start ``command`` under py-spy and record it to its end (it must print --json)."""
    return _record(["--", *command], target=target, out=out, rate=rate, idle=idle, timeout=None)


def _record(
    args: list[str], *, target: str, out: Path, rate: int, idle: bool, timeout: float | None
) -> Flamegraph:
    exe = find_pyspy()
    _check_writable(out)
    flags = ["record", "--format", "flamegraph", "-o", str(out), "--rate", str(rate)]
    if idle:
        flags.append("--idle")
    started = time.perf_counter()
    try:
        proc = subprocess.run([exe, *flags, *args], capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise ProfileError(f"py-spy did not finish within {timeout:g} s") from exc
    seconds = time.perf_counter() - started
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        raise _failure(proc.returncode, output)
    counts = _SAMPLES.search(output)
    run = _run_report(proc.stdout, output) if args[0] == "--" else None
    return Flamegraph(
        path=out,
        bytes=out.stat().st_size,
        samples=int(counts.group(1)) if counts else None,
        errors=int(counts.group(2)) if counts else None,
        target=target,
        rate=rate,
        seconds=seconds,
        run=run,
    )


def _check_writable(out: Path) -> None:
    """Fail early on an unwritable --out, so a later 'permission denied' means ptrace."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create its folder ({exc.strerror})") from exc
    if not os.access(out if out.exists() else out.parent, os.W_OK):
        raise UsageError(f"--out {out}: not writable by this user")


def _failure(code: int, output: str) -> ProfileError:
    if is_ptrace_denied(output):
        return PtraceDenied(f"{PTRACE_HINT}\npy-spy said: {_tail(output)}")
    if _NO_SAMPLES in output:
        return ProfileError(
            "py-spy collected no samples: the target was idle the whole time (pass --idle "
            f"to include idle threads) or exited at once.\n{_tail(output)}"
        )
    return ProfileError(f"py-spy failed (exit {code}):\n{_tail(output)}")


def _run_report(stdout: str, output: str) -> dict[str, object]:
    """The profiled run's --json report, from stdout without py-spy's own lines."""
    text = "\n".join(line for line in stdout.splitlines() if not line.startswith("py-spy>"))
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"the profiled run failed (no JSON report):\n{_tail(output)}") from exc
    if not isinstance(report, dict):
        raise ProfileError(f"the profiled run printed an unexpected report: {text[:200]}")
    return report


def _tail(output: str, lines: int = 12) -> str:
    """The last lines worth reading: blank lines and py-spy's Rust backtrace dropped."""
    output = output.split("Stack backtrace:", 1)[0]
    kept = [line for line in output.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])
