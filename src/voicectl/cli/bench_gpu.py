"""``voicectl bench gpu``: the GPU adapters' tiny models through a real worker, one JSON file.

A check like ``bench soak``: it exits 1 when a check failed (PAUSE/RESUME not exact),
after writing the report; 6 when it cannot run here (no torch, or --device cuda without
a GPU), before measuring anything.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from voicectl.bench.gpu_check import GpuCheckConfig, GpuCheckError, run_gpu_check
from voicectl.cli.common import (
    LOG_LEVEL_HELP,
    QUIET,
    VERBOSE,
    Exit,
    console,
    err_console,
    fail,
    print_json,
    start_logging,
)

CANNOT_RUN = 6  # as `voicectl profile torch` without torch


def gpu_table(report: dict[str, Any]) -> Table:
    csm = report["adapters"]["csm"]
    table = Table(title=f"bench gpu on {report['gpu'] or report['device']} "
                  f"(torch {report['torch']})", header_style="bold")  # fmt: skip
    for column in ("check", "result"):
        table.add_column(column)
    for model in (csm["model_id"], f"{csm['model_id']}+lora:calm"):
        fal = csm[model]
        table.add_row(
            f"{model} first audio p50 / p95",
            f"{fal['first_audio_ms']['p50']} / {fal['first_audio_ms']['p95']} ms",
        )
        table.add_row(f"{model} RTF p50", str(fal["rtf"]["p50"]))  # fmt: skip
    exact = csm["pause_resume_exact"]
    table.add_row("PAUSE/RESUME bit-identical", "[green]yes[/]" if exact else "[red]no[/]")
    lora = csm["lora"]
    table.add_row("LoRA load", f"{lora['load_ms']} ms")
    switching = lora["switching_first_audio_ms"]
    table.add_row("first audio, sessions alternating LoRAs p50 / p95",
                  f"{switching['p50']} / {switching['p95']} ms")  # fmt: skip
    mem = csm["memory"]
    table.add_row(f"memory growth over {mem['cycles']} load/unload cycles",
                  f"{mem['growth_bytes'] / 2**20:+.1f} MiB")  # fmt: skip
    xtts = report["adapters"]["xtts"]
    if "not_run" in xtts:
        table.add_row("xtts", f"[yellow]not run[/]: {xtts['not_run']}")
    else:
        fal = xtts[xtts["model_id"]]
        table.add_row(
            f"{xtts['model_id']} first audio p50 / p95",
            f"{fal['first_audio_ms']['p50']} / {fal['first_audio_ms']['p95']} ms",
        )
        table.add_row(f"{xtts['model_id']} RTF p50", str(fal["rtf"]["p50"]))
        table.add_row("xtts: clone a voice", f"{xtts['clone_ms']} ms")
        exact = xtts["pause_resume_exact"]
        table.add_row("xtts: PAUSE/RESUME bit-identical",
                      "[green]yes[/]" if exact else "[red]no[/]")  # fmt: skip
    table.caption = f"{report['elapsed_s']} s"
    return table


def gpu_command(
    device: str = typer.Option("cuda", help="cuda, or cpu to run the same checks on the CPU."),
    out: Path = typer.Option(Path("gpu-check.json"), "--out", "-o", help="JSON report."),
    runs: int = typer.Option(10, min=1, help="Measured runs per first-audio figure."),
    cycles: int = typer.Option(10, min=1, help="Load/unload cycles for the memory check."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON too."),
    log_level: str = typer.Option("warning", help=LOG_LEVEL_HELP),
    quiet: bool = QUIET,
    verbose: bool = VERBOSE,
) -> None:
    start_logging(log_level, quiet=quiet, verbose=verbose)
    if device != "cpu" and not device.startswith("cuda"):
        fail(f"--device {device!r}: use cuda, cuda:N or cpu", Exit.USAGE)
    config = GpuCheckConfig(device=device, runs=runs, cycles=cycles)
    try:
        with err_console.status("bench gpu") as status:
            report = asyncio.run(run_gpu_check(config, lambda step: status.update(step)))
    except GpuCheckError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(CANNOT_RUN) from None
    out.write_text(json.dumps(report, indent=2) + "\n")
    if json_out:
        print_json(report)
    else:
        console.print(gpu_table(report))
        console.print(f"wrote {out}")
    if not report["ok"]:
        raise typer.Exit(Exit.FAILURE)
