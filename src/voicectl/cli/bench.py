"""``voicectl bench ...``: measurements recorded in docs/benchmarks.md (exit 0 even on a miss;
``bench soak`` is a check and exits 1 on one)."""

from __future__ import annotations

import asyncio

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from voicectl.bench.fal import (
    DEFAULT_TEXT,
    TARGET_P95_MS,
    BenchError,
    FalConfig,
    FalReport,
    prepare,
    run_fal,
)
from voicectl.bench.peer import SUITE, PeerUnavailable
from voicectl.cli.bench_gpu import gpu_command
from voicectl.cli.bench_peer import PEERS, UnknownModel, peer_table, run_peer
from voicectl.cli.bench_soak import soak_command
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
    grpc_errors,
    print_json,
    start_logging,
)
from voicectl.rpc.client import TTSClient
from voicectl.worker.config import ConfigError, load_worker_config
from voicectl.worker.server import Worker

app = typer.Typer(
    help="Benchmarks of the targets in docs/benchmarks.md.\n\n"
    "Example: voicectl bench fal --runs 50 --warmup 3",
    no_args_is_help=True,
)


async def _fal(config: FalConfig, target: str | None, connect_timeout: float) -> FalReport:
    worker: Worker | None = None
    if target is None:
        worker = Worker(load_worker_config(cli={"port": 0, "ttl": "never"}))
        with err_console.status(f"starting an embedded worker ({worker.config.default_model})…"):
            await worker.start()
        target = worker.address
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("last {task.fields[last]}"),
        TimeElapsedColumn(),
        console=err_console,
    )
    try:
        async with TTSClient(target) as client:
            with grpc_errors(target):
                await client.wait_ready(timeout=connect_timeout)
                with err_console.status(f"loading {config.model_id or 'the default model'}…"):
                    model_id = await prepare(client, config.model_id)
                with progress:
                    warm = progress.add_task("warmup", total=config.warmup, last="-")
                    runs = progress.add_task("fal", total=config.runs, last="-")
                    return await run_fal(
                        client,
                        config,
                        worker="embedded" if worker is not None else target,
                        model_id=model_id,
                        on_warmup=lambda r: progress.update(
                            warm, advance=1, last=f"{r.first_audio_s * 1000:.0f} ms"
                        ),
                        on_run=lambda r: progress.update(
                            runs, advance=1, last=f"{r.first_audio_s * 1000:.0f} ms"
                        ),
                    )
    finally:
        if worker is not None:
            await worker.stop(grace=0)


def _table(report: FalReport) -> Table:
    fal, rtf = report.first_audio_ms, report.rtf
    verdict = "[green]pass[/]" if report.meets_target else "[red]miss[/]"
    table = Table(title="first audio latency (text in -> first frame out)", header_style="bold")
    for column in ("model", "runs", "conc.", "p50 ms", "p95 ms", "max ms", "mean ms",
                   "RTF p50", "RTF mean", f"p95 < {TARGET_P95_MS:.0f} ms"):  # fmt: skip
        table.add_column(column, justify="left" if column == "model" else "right")
    table.add_row(
        report.model_id,
        str(len(report.results)),
        str(report.config.concurrency),
        f"{fal.p50:.1f}",
        f"{fal.p95:.1f}",
        f"{fal.max:.1f}",
        f"{fal.mean:.1f}",
        f"{rtf.p50:.3f}",
        f"{rtf.mean:.3f}",
        verdict,
    )
    machine = report.machine
    table.caption = (
        f"worker {report.worker}, {len(report.config.text)}-char text, "
        f"{machine['cpu_count']} CPUs, {machine['platform']}, Python {machine['python']}"
    )
    return table


@app.command(
    "fal",
    help="First audio latency: time from sending a one-sentence text to the first audio "
    "frame, and the real-time factor, over N runs. Without --worker an embedded worker "
    "runs in this process. Target: p95 < 100 ms (Piper on CPU); a miss still exits 0.\n\n"
    "With --peer wyoming: a voicectl worker process and wyoming-piper on the same voice "
    "(uv sync --extra peer), measured in turns on each text (--text, repeatable; default: "
    "six replies short and long).\n\n"
    "Example: voicectl bench fal --model piper:en_US-joe-medium --runs 50 --warmup 3 --json\n\n"
    "Example: voicectl bench fal --peer wyoming --runs 7 --warmup 2",
)
def fal_command(
    worker: str | None = typer.Option(None, help="HOST:PORT of a running worker."),
    model: str = typer.Option("", help="Model id, e.g. mock:sine (default: the worker's)."),
    runs: int = typer.Option(20, min=1, help="Measured runs."),
    warmup: int = typer.Option(3, min=0, help="Unmeasured runs first (after the model loads)."),
    text: list[str] = typer.Option(
        [], help="The reply to synthesize (repeat with --peer to compare several)."
    ),
    rate: int = typer.Option(0, help="Output sample rate in Hz (0 = the model's native rate)."),
    concurrency: int = typer.Option(1, min=1, help="Streams in flight at once."),
    peer: str | None = typer.Option(
        None, help="Measure this peer in the same run: wyoming (wyoming-piper, same voice)."
    ),
    gap_ms: float = typer.Option(
        100.0, min=0.0, help="With --peer: idle ms before each run (lets spinning threads rest)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON report."),
    connect_timeout: float = typer.Option(10.0, help=CONNECT_TIMEOUT_HELP),
    log_level: str = typer.Option("warning", help=LOG_LEVEL_HELP),
    quiet: bool = QUIET,
    verbose: bool = VERBOSE,
) -> None:
    start_logging(log_level, quiet=quiet, verbose=verbose)
    if worker is not None:
        check_worker(worker, timeout=connect_timeout)
    if peer is not None:
        _peer_command(peer, worker, model, text, runs, warmup, gap_ms, concurrency, rate,
                      json_out, connect_timeout)  # fmt: skip
        return
    if len(text) > 1:
        fail("--text is given once without --peer (one reply per benchmark)", Exit.USAGE)
    try:
        config = FalConfig(
            model_id=model,
            text=text[0] if text else DEFAULT_TEXT,
            runs=runs,
            warmup=warmup,
            sample_rate=rate,
            concurrency=concurrency,
        )
    except ValueError as exc:
        fail(str(exc), Exit.USAGE)
    try:
        report = asyncio.run(_fal(config, worker, connect_timeout))
    except ConfigError as exc:
        fail(str(exc), Exit.USAGE)
    except BenchError as exc:
        fail(str(exc), Exit.FAILURE)
    if json_out:
        print_json(report.to_dict())
    else:
        console.print(_table(report))


def _peer_command(
    peer: str,
    worker: str | None,
    model: str,
    texts: list[str],
    runs: int,
    warmup: int,
    gap_ms: float,
    concurrency: int,
    rate: int,
    json_out: bool,
    connect_timeout: float,
) -> None:
    if peer not in PEERS:
        fail(f"--peer must be one of {', '.join(PEERS)}, got {peer!r}", Exit.USAGE)
    if concurrency != 1 or rate:
        fail("--peer measures one stream at the native rate: drop --concurrency/--rate",
             Exit.USAGE)  # fmt: skip
    if any(not t.strip() for t in texts):
        fail("--text must not be empty", Exit.USAGE)
    try:
        report = asyncio.run(
            run_peer(target=worker, model=model, texts=texts or SUITE, runs=runs,
                     warmup=warmup, gap_ms=gap_ms, connect_timeout=connect_timeout)
        )  # fmt: skip
    except UnknownModel as exc:
        fail(str(exc), Exit.NOT_FOUND)
    except (ConfigError, ValueError) as exc:
        fail(str(exc), Exit.USAGE)
    except PeerUnavailable as exc:
        fail(str(exc), Exit.UNAVAILABLE)
    except BenchError as exc:
        fail(str(exc), Exit.FAILURE)
    if json_out:
        print_json(report.to_dict())
    else:
        console.print(peer_table(report))


app.command("soak")(soak_command)
app.command(
    "gpu",
    help="Every GPU adapter's tiny model through a real worker: first audio, RTF, exact "
    "PAUSE/RESUME, LoRA swaps, memory over load/unload cycles; one JSON file. Exit 1 when a "
    "check fails, 6 without torch or (with --device cuda) a GPU. scripts/gpu-check.sh "
    "installs what it needs and runs it.\n\nExample: voicectl bench gpu --device cuda --out "
    "gpu-check.json",
)(gpu_command)
