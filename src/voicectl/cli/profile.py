"""``voicectl profile ...``: py-spy flamegraphs and torch.profiler traces (docs/profiling.md).

Exit codes beyond docs/cli.md's: 6 = the profiler (py-spy or torch) is not
installed, 7 = ptrace is not allowed, so py-spy cannot read the target.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import NoReturn

import typer
from rich.table import Table

from voicectl.cli.common import (
    LOG_LEVEL_HELP,
    QUIET,
    VERBOSE,
    Exit,
    console,
    err_console,
    print_json,
    start_logging,
)
from voicectl.profiling import ProfileError
from voicectl.profiling.pyspy import (
    BENCHES,
    Flamegraph,
    bench_command,
    record_command,
    record_pid,
)
from voicectl.profiling.torch_trace import STAGES, TorchTrace, profile_synthesis

app = typer.Typer(
    help="Profile a worker, the orchestrator or an embedded run (docs/profiling.md).\n\n"
    "Example: voicectl profile pyspy --bench say --model mock:sine --output flame.svg",
    no_args_is_help=True,
)


def _fail(message: str, code: int) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@app.command(
    "pyspy",
    help="Flamegraph (SVG) of a running worker or orchestrator (--pid, for --duration "
    "seconds) or of an embedded `voicectl bench fal` / `voicectl say` run (--bench). "
    "py-spy needs ptrace: exit 7 when it is not allowed here, 6 when py-spy is missing.\n\n"
    "Example: voicectl profile pyspy --pid 4242 --duration 10 --output flame.svg",
)
def pyspy_command(
    pid: int | None = typer.Option(None, help="PID of a running worker or orchestrator."),
    bench: str | None = typer.Option(None, help=f"Profile an embedded run: {', '.join(BENCHES)}."),
    duration: int | None = typer.Option(
        None, min=1, help="Seconds to sample with --pid (default 10)."
    ),
    out: Path = typer.Option(
        Path("flame.svg"), "--output", "-o", "--out", help="SVG file to write."
    ),
    rate: int = typer.Option(100, min=1, max=10000, help="Samples per second."),
    idle: bool = typer.Option(False, help="Include idle threads (an idle worker has no others)."),
    model: str = typer.Option(
        "", help="--bench: model id, e.g. mock:sine (default: the worker's)."
    ),
    runs: int = typer.Option(5, min=1, help="--bench fal: measured runs."),
    text: str = typer.Option("", help="--bench: the text to synthesize."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    if (pid is None) == (bench is None):
        _fail("give exactly one of --pid PID or --bench fal|say", Exit.USAGE)
    if bench is not None and duration is not None:
        _fail("--duration applies to --pid; a --bench run is recorded to its end", Exit.USAGE)
    try:
        if pid is not None:
            flame = record_pid(pid, duration=duration or 10, out=out, rate=rate, idle=idle)
        else:
            flame = _record_bench(bench or "", model=model, runs=runs, text=text, out=out,
                                  rate=rate, idle=idle)  # fmt: skip
    except ProfileError as exc:
        _fail(str(exc), exc.exit_code)
    if json_out:
        print_json(flame.to_dict())
        return
    samples = f", {flame.samples} samples" if flame.samples is not None else ""
    console.print(
        f"wrote [bold]{flame.path}[/] ({flame.bytes / 1024:.0f} KiB{samples}) "
        f"from {flame.target}; open it in a browser"
    )


def _record_bench(
    bench: str, *, model: str, runs: int, text: str, out: Path, rate: int, idle: bool
) -> Flamegraph:
    with tempfile.TemporaryDirectory(prefix="voicectl-profile-") as workdir:
        command = bench_command(bench, model=model, runs=runs, text=text, workdir=Path(workdir))
        with err_console.status(f"recording voicectl {bench} under py-spy…"):
            return record_command(
                command, target=f"voicectl {bench} (embedded)", out=out, rate=rate, idle=idle
            )


@app.command(
    "torch",
    help="One synthesis through an embedded worker under torch.profiler (CPU, plus CUDA and "
    "NVTX ranges when CUDA is present), with ranges around the model stages; writes a "
    "chrome trace (chrome://tracing, Perfetto). Exit 6 when torch is not installed.\n\n"
    "Example: voicectl profile torch --model mock:sine --output trace.json",
)
def torch_command(
    model: str = typer.Option("mock:sine", help="Model id to synthesize with."),
    text: str = typer.Option(
        "Hello there. This is one synthesis under the torch profiler.", help="What to say."
    ),
    out: Path = typer.Option(
        Path("trace.json"), "--output", "-o", "--out", help="Chrome trace to write."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    log_level: str = typer.Option("warning", help=LOG_LEVEL_HELP),
    quiet: bool = QUIET,
    verbose: bool = VERBOSE,
) -> None:
    start_logging(log_level, quiet=quiet, verbose=verbose)
    try:
        with err_console.status(f"profiling one synthesis on {model}…"):
            trace = profile_synthesis(model=model, text=text, out=out)
    except ProfileError as exc:
        _fail(str(exc), exc.exit_code)
    if json_out:
        print_json(trace.to_dict())
    else:
        console.print(_stage_table(trace))


def _stage_table(trace: TorchTrace) -> Table:
    table = Table(title=f"torch.profiler stages ({trace.device})", header_style="bold")
    for column in ("stage", "count", "total ms"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name in STAGES:
        stage = trace.stages.get(name, {"count": 0, "total_ms": 0.0})
        table.add_row(name, f"{stage['count']:.0f}", f"{stage['total_ms']:.1f}")
    table.caption = (
        f"{trace.path} ({trace.bytes / 1024:.0f} KiB, {trace.events} events), "
        f"{trace.model_id}, {trace.frames} frames, {trace.audio_seconds} s of audio, "
        f"torch {trace.torch_version}"
    )
    return table


if __name__ == "__main__":  # `python -m voicectl.cli.profile` until app.py registers the group
    app()
