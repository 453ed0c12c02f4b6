"""``voicectl bench soak``: memory of the worker and the orchestrator over a long run.

Unlike the other benches, a soak is a check: it exits 1 when memory grew past
``--max-growth-pct`` after warm-up, when refcounts or active sessions are not back to 0
at the end, or when turns failed; the report is printed first either way.
"""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from voicectl.bench.soak import SoakConfig, SoakReport, Tick, run_soak
from voicectl.bench.soak_stack import SoakError
from voicectl.cli.common import (
    CONNECT_TIMEOUT_HELP,
    LOG_LEVEL_HELP,
    QUIET,
    VERBOSE,
    Exit,
    check_worker,
    console,
    err_console,
    fail,
    print_json,
    start_logging,
)
from voicectl.talk.user_audio import UserAudioError

DEFAULT_MINUTES = 10.0


def _duration(minutes: float | None, seconds: float | None) -> float:
    if minutes is not None and seconds is not None:
        fail("give --minutes or --seconds, not both", Exit.USAGE)
    if seconds is not None:
        return seconds
    return (DEFAULT_MINUTES if minutes is None else minutes) * 60.0


def _status(tick: Tick) -> str:
    def mib(name: str) -> str:
        value = tick.rss_mib.get(name)
        return "-" if value is None else f"{value:.0f} MiB"

    t = tick.tally
    return (f"turns {t.turns} (failed {t.failed_turns}), worker {mib('worker')}, "
            f"orchestrator {mib('orchestrator')}")  # fmt: skip


def _run(config: SoakConfig) -> SoakReport:
    progress = Progress(TextColumn("soak"), BarColumn(), TextColumn("{task.fields[status]}"),
                        TimeElapsedColumn(), console=err_console)  # fmt: skip

    async def main() -> SoakReport:
        with progress:
            task = progress.add_task("soak", total=config.seconds, status="starting…")

            def on_tick(tick: Tick) -> None:
                progress.update(task, completed=min(tick.elapsed_s, config.seconds),
                                status=_status(tick))  # fmt: skip

            return await run_soak(config, on_tick=on_tick)

    try:
        return asyncio.run(main())
    except UserAudioError as exc:  # a scenario's, or espeak-ng missing
        fail(str(exc), Exit.USAGE)
    except SoakError as exc:
        fail(escape(str(exc)), Exit.UNAVAILABLE)


def soak_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"soak: {report['sessions']} sessions for {report['seconds']:g} s, RSS",
                  header_style="bold")  # fmt: skip
    columns = ("process", "pid", "samples", "first MiB", "after warm-up MiB", "end MiB",
               "peak MiB", "growth MiB", "growth %", "slope MiB/min", "verdict")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "process" else "right")
    margin = float(report["max_growth_pct"])
    for name, entry in report["processes"].items():
        if entry is None:
            table.add_row(name, "-", "0", *["-"] * 7, "not sampled")
            continue
        over = entry["growth_pct"] > margin
        table.add_row(
            name, str(entry["pid"]), str(entry["samples"]),
            *(f"{entry[k]:.1f}" for k in ("first_mib", "start_mib", "end_mib", "peak_mib")),
            f"{entry['growth_mib']:+.1f}", f"{entry['growth_pct']:+.2f}",
            f"{entry['slope_mib_per_min']:+.3f}",
            f"[red]over {margin:g} %[/]" if over else f"[green]within {margin:g} %[/]",
        )  # fmt: skip
    machine = report["machine"]
    state = ", ".join(f"{k}={escape(str(v))}" for k, v in report["end_state"].items())
    table.caption = (
        f"{report['turns']} turns ({report['spoken_turns']} spoken, {report['failed_turns']} "
        f"failed) in {report['conversations']} conversations, warm-up {report['warmup_s']:g} s "
        f"left out; at the end: {state}\nworker {report['worker']}, model "
        f"{report['model_id']}; {machine['cpu_count']} CPUs, {machine['platform']}, "
        f"Python {machine['python']}"
    )
    return table


def soak_command(
    sessions: int = typer.Option(8, min=1, help="Concurrent conversations."),
    minutes: float | None = typer.Option(None, help="How long it runs (default 10)."),
    seconds: float | None = typer.Option(None, help="Or the duration in seconds (short runs)."),
    interval: float = typer.Option(1.0, help="Seconds between RSS samples."),
    warmup_pct: float = typer.Option(
        20.0, help="Share of the run (%) left out of the growth figures."
    ),
    max_growth_pct: float = typer.Option(
        5.0, help="RSS growth after warm-up (%) above which the soak fails (exit 1)."
    ),
    turns_per_session: int = typer.Option(
        10, help="Turns before a conversation is closed and a new one opened."
    ),
    worker: str | None = typer.Option(
        None, help="HOST:PORT of a running worker (default: a worker process of its own)."
    ),
    model: str = typer.Option("", help="Model of the replies (default: the worker's)."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report."),
    connect_timeout: float = typer.Option(10.0, help=CONNECT_TIMEOUT_HELP),
    log_level: str = typer.Option("warning", help=LOG_LEVEL_HELP),
    quiet: bool = QUIET,
    verbose: bool = VERBOSE,
) -> None:
    """Soak: N conversations (typed and spoken turns, Piper replies) through an
    orchestrator process for a long while, sampling the RSS of it and of the worker.
    Reports growth after warm-up and its slope per process, and the refcounts and active
    sessions once every session closed. Exit 1 when growth exceeds --max-growth-pct,
    something is not back to 0, or turns failed.

    Example: voicectl bench soak --sessions 8 --minutes 10

    Example: voicectl bench soak --sessions 2 --seconds 20 --json
    """
    start_logging(log_level, quiet=quiet, verbose=verbose)
    try:
        config = SoakConfig(
            sessions=sessions, seconds=_duration(minutes, seconds), interval_s=interval,
            warmup_pct=warmup_pct, max_growth_pct=max_growth_pct,
            turns_per_session=turns_per_session, worker=worker, model_id=model,
            connect_timeout=connect_timeout,
        )  # fmt: skip
    except ValueError as exc:
        fail(str(exc), Exit.USAGE)
    if worker is not None:
        check_worker(worker, timeout=connect_timeout)
    report: dict[str, Any] = _run(config).to_dict()
    if json_out:
        print_json(report)
    else:
        console.print(soak_table(report))
    failures = report["failures"]
    for failure in failures:
        err_console.print(f"[bold red]soak failed:[/] {escape(str(failure))}")
    if failures:
        raise typer.Exit(int(Exit.FAILURE))
