"""``voicectl registry ls|watch|prune``: the workers registered in Redis."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from typing import TypeVar

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from voicectl.cli.common import Exit, console, err_console, fail, print_json
from voicectl.observability.logging import setup_logging
from voicectl.registry import open_registry
from voicectl.registry.base import RegistryError, RegistryUnavailable, WorkerRecord
from voicectl.registry.redis_backend import DEFAULT_PREFIX, DEFAULT_URL, RedisRegistry
from voicectl.registry.signing import SECRET_ENV
from voicectl.registry.watch import watch_workers

T = TypeVar("T")

app = typer.Typer(
    help="Workers registered in Redis: list, watch live, prune stale entries.\n\n"
    "Example: voicectl registry ls --redis redis://127.0.0.1:6379/0",
    no_args_is_help=True,
)

REDIS_HELP = "Redis URL (default $VOICECTL_REDIS, else redis://127.0.0.1:6379/0)."
PREFIX_HELP = "Key prefix the workers use (their registry_prefix)."


def _url(redis: str | None) -> str:
    return redis or os.environ.get("VOICECTL_REDIS") or DEFAULT_URL


def _with_registry(url: str, prefix: str, action: Callable[[RedisRegistry], Awaitable[T]]) -> T:
    setup_logging("warning")

    async def run() -> T:
        secret = os.environ.get(SECRET_ENV) or None  # forged records then show as malformed
        registry = await open_registry(url, prefix=prefix, secret=secret)
        async with registry:
            return await action(registry)

    try:
        return asyncio.run(run())
    except RegistryUnavailable as exc:
        fail(str(exc), Exit.UNAVAILABLE)
    except RegistryError as exc:
        fail(str(exc), Exit.USAGE)


def record_to_dict(record: WorkerRecord, now: float) -> dict[str, object]:
    """Stable JSON shape for one worker (the stored record plus its heartbeat age)."""
    data = record.to_dict()
    data.pop("schema", None)
    data["address"] = record.address
    data["heartbeat_age_seconds"] = round(max(0.0, now - record.last_heartbeat), 3)
    return data


def _ago(now: float, then: float) -> str:
    age = max(0.0, now - then)
    return f"{age:.1f}s ago" if age < 120 else f"{age / 60:.0f}m ago"


def workers_table(records: list[WorkerRecord], now: float, title: str = "workers") -> Table:
    table = Table(title=title, header_style="bold")
    for column in ("worker", "host:port", "gpu", "models", "sessions", "queue", "latency",
                   "last heartbeat", "pid"):  # fmt: skip
        table.add_column(column)
    for r in records:
        models = ", ".join(
            f"{m}" if state == "ready" else f"{m} ({state})"
            for m, state in sorted(r.models.items())
        )
        table.add_row(
            r.worker_id,
            r.address,
            "-" if r.gpu is None else str(r.gpu),
            models or "-",
            str(r.active_sessions),
            str(r.queue_depth),
            f"{r.mean_latency_ms:.0f} ms" if r.mean_latency_ms else "-",
            _ago(now, r.last_heartbeat),
            str(r.pid or "-"),
        )
    return table


@app.command(
    "ls",
    help="List live workers: address, GPU, resident models, load, last heartbeat.\n\n"
    "Example: voicectl registry ls --redis redis://127.0.0.1:6379/0 --json",
)
def ls_command(
    redis: str | None = typer.Option(None, help=REDIS_HELP),
    prefix: str = typer.Option(DEFAULT_PREFIX, help=PREFIX_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    url = _url(redis)
    records = _with_registry(url, prefix, lambda r: r.list_workers())
    now = time.time()
    if json_out:
        print_json({"workers": [record_to_dict(r, now) for r in records]})
    elif records:
        console.print(workers_table(records, now))
    else:
        err_console.print(f"no workers registered in {url.split('@')[-1]} (prefix {prefix!r})")


@app.command(
    "watch",
    help="Live view of the workers, updated on every registry change and every --interval."
    " Ctrl-C exits.\n\nExample: voicectl registry watch --redis redis://127.0.0.1:6379/0",
)
def watch_command(
    redis: str | None = typer.Option(None, help=REDIS_HELP),
    prefix: str = typer.Option(DEFAULT_PREFIX, help=PREFIX_HELP),
    interval: float = typer.Option(1.0, min=0.05, help="Seconds between re-lists."),
    once: bool = typer.Option(False, help="Print one snapshot and exit."),
    duration: float | None = typer.Option(None, min=0.0, help="Exit after this many seconds."),
    json_out: bool = typer.Option(False, "--json", help="One JSON line per update (NDJSON)."),
) -> None:
    url = _url(redis)

    async def follow(registry: RedisRegistry) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if duration is None else loop.time() + duration
        live = None if json_out else Live(console=console, auto_refresh=False)
        try:
            if live is not None:
                live.start()
            async for update in watch_workers(registry, interval=interval):
                _show(update, live)
                if once or (deadline is not None and loop.time() >= deadline):
                    return
        finally:
            if live is not None:
                live.stop()
                console.line()

    with suppress(KeyboardInterrupt):  # Ctrl-C is how a watch ends
        _with_registry(url, prefix, follow)


def _show(update: list[WorkerRecord] | RegistryError, live: Live | None) -> None:
    now = time.time()
    if live is None:
        if isinstance(update, RegistryError):
            line: dict[str, object] = {"error": str(update), "time": now}
        else:
            line = {"time": now, "workers": [record_to_dict(r, now) for r in update]}
        sys.stdout.write(json.dumps(line, sort_keys=True) + "\n")
        sys.stdout.flush()
        return
    if isinstance(update, RegistryError):
        live.update(Text(f"registry unavailable: {update}", style="red"), refresh=True)
        return
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    title = f"workers ({len(update)}) at {stamp}"
    live.update(Group(workers_table(update, now, title)), refresh=True)


@app.command(
    "prune",
    help="Remove index entries of expired workers and entries that do not parse; "
    "--worker ID removes one worker at once.\n\n"
    "Example: voicectl registry prune --redis redis://127.0.0.1:6379/0 --dry-run",
)
def prune_command(
    redis: str | None = typer.Option(None, help=REDIS_HELP),
    prefix: str = typer.Option(DEFAULT_PREFIX, help=PREFIX_HELP),
    worker: list[str] = typer.Option([], help="Also deregister this worker id (repeatable)."),
    dry_run: bool = typer.Option(False, help="Only report what would be removed."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    async def prune(registry: RedisRegistry) -> PruneReport:
        found = await registry.prune(dry_run=dry_run)
        known = {r.worker_id for r in found.records} | set(found.stale)
        report = PruneReport(dry_run=dry_run, stale=found.stale, malformed=found.malformed)
        for worker_id in worker:
            if worker_id not in known:
                report.unknown.append(worker_id)
                continue
            report.deregistered.append(worker_id)
            if not dry_run:
                await registry.deregister(worker_id)
        return report

    report = _with_registry(_url(redis), prefix, prune)
    if json_out:
        print_json(asdict(report))
    else:
        verb = "would remove" if dry_run else "removed"
        console.print(
            f"{verb} {_plural(len(report.stale), 'expired index entry')}, "
            f"{_plural(len(report.malformed), 'malformed entry')}"
        )
        for key, reason in report.malformed.items():
            console.print(f"  {key}: {reason}")
        for worker_id in report.deregistered:
            console.print(f"{'would deregister' if dry_run else 'deregistered'} {worker_id}")
    if report.unknown:
        fail(f"unknown worker id(s): {', '.join(report.unknown)}", Exit.NOT_FOUND)


@dataclass
class PruneReport:
    dry_run: bool
    stale: list[str]
    malformed: dict[str, str]
    deregistered: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _plural(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"
