"""``voicectl bench fal --peer wyoming``: first audio against wyoming-piper, interleaved."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Sequence

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from voicectl.bench.fal import prepare
from voicectl.bench.peer import (
    TARGET_P95_MS,
    PeerReport,
    compare,
    free_port,
    process,
    require_wyoming,
    wyoming_piper,
)
from voicectl.cli.common import err_console, grpc_errors
from voicectl.rpc.client import SynthesisRequest, TTSClient
from voicectl.worker.adapters.piper import resolve_files
from voicectl.worker.config import load_worker_config
from voicectl.worker.server import build_catalog

PEERS = ("wyoming",)


class UnknownModel(LookupError):
    """--model names no model in the catalog."""


@contextlib.asynccontextmanager
async def _worker(target: str | None, model_id: str) -> AsyncIterator[str]:
    """``target``, or a ``voicectl worker`` process of our own (the peer has one too)."""
    if target is not None:
        yield target
        return
    port = free_port()
    command = [sys.executable, "-m", "voicectl", "worker", "--port", str(port), "--ttl", "0",
               "--default-model", model_id, "--log-level", "warning"]  # fmt: skip
    async with process(command, port, "voicectl worker"):
        yield f"127.0.0.1:{port}"


async def run_peer(
    *,
    target: str | None,
    model: str,
    texts: Sequence[str],
    runs: int,
    warmup: int,
    gap_ms: float,
    connect_timeout: float,
) -> PeerReport:
    """Start what is missing (worker, wyoming-piper on the same voice) and compare."""
    config = load_worker_config(cli={"port": 0})
    model_id = model or config.default_model
    catalog = build_catalog(config)
    if model_id not in catalog:
        raise UnknownModel(f"unknown model {model_id!r}; known: {catalog.describe_ids()}")
    spec = catalog[model_id]
    if spec.adapter != "piper":
        raise ValueError(f"--peer wyoming needs a Piper model, got {model_id!r} ({spec.adapter})")
    voice_model, voice_config = resolve_files(spec)
    require_wyoming()  # before anything starts
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err_console,
    )  # fmt: skip
    stack = contextlib.AsyncExitStack()
    try:
        with err_console.status("starting the voicectl worker and wyoming-piper…"):
            address = await stack.enter_async_context(_worker(target, model_id))
            peer_port = await stack.enter_async_context(wyoming_piper(voice_model, voice_config))
    except BaseException:
        await stack.aclose()  # the worker already started is stopped, not left to the GC
        raise
    async with stack, TTSClient(address) as client:
        with grpc_errors(address):
            await client.wait_ready(timeout=connect_timeout)
            model_id = await prepare(client, model_id)
            with progress:
                task = progress.add_task("pairs", total=len(texts) * (runs + warmup))
                results = await compare(
                    client, SynthesisRequest(model_id=model_id), peer_port,
                    texts=texts, runs=runs, warmup=warmup, gap_s=gap_ms / 1000.0,
                    on_run=lambda _: progress.advance(task),
                )  # fmt: skip
    return PeerReport(
        model_id=model_id,
        worker=target or "process",
        peer="wyoming-piper",
        runs=runs,
        warmup=warmup,
        gap_ms=gap_ms,
        texts=results,
    )


def peer_table(report: PeerReport) -> Table:
    table = Table(title="first audio: voicectl vs wyoming-piper (same voice, interleaved)",
                  header_style="bold")  # fmt: skip
    for column in ("text", "words¹", "voicectl p50", "p95", "wyoming p50", "p95", "ratio",
                   "target", "verdict"):  # fmt: skip
        table.add_column(column, justify="left" if column == "text" else "right")
    for row in report.texts:
        ours, theirs = row.ms(row.voicectl), row.ms(row.peer)
        words = row.to_dict()["first_sentence_words"]
        table.add_row(
            escape(row.text if len(row.text) <= 40 else row.text[:39] + "…"),
            str(words),
            f"{ours.p50:.1f}",
            f"{ours.p95:.1f}",
            f"{theirs.p50:.1f}",
            f"{theirs.p95:.1f}",
            f"{row.ratio:.2f}",
            f"<= {row.target_ratio:g}",
            "[green]pass[/]" if row.meets_target else "[red]miss[/]",
        )
    machine = report.machine
    table.caption = (
        f"¹ words in the first sentence. ms, {report.runs} runs each after {report.warmup} "
        f"warmup, {report.gap_ms:g} ms idle between runs; pass = ratio within target and "
        f"voicectl p95 < {TARGET_P95_MS:g} ms. {machine['cpu_count']} CPUs, "
        f"{machine['platform']}, Python {machine['python']}"
    )
    return table
