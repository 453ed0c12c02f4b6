"""``voicectl models ls|ps|load|unload|pull``: the model manager of a running worker,
and downloading a voicepack's weights (cli/models_pull.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.table import Table

from voicectl.cli.common import (
    CONNECT_TIMEOUT_HELP,
    Exit,
    check_worker,
    console,
    err_console,
    fail,
    grpc_errors,
    print_json,
)
from voicectl.cli.models_pull import pull_command
from voicectl.rpc.client import TTSClient
from voicectl.rpc.model_state import ModelState
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.worker.adapters.lora import SEPARATOR as LORA_SEPARATOR

T = TypeVar("T")
DEFAULT_WORKER = "127.0.0.1:50051"

app = typer.Typer(
    help="List, load and unload models on a worker; pull a voicepack's weights.\n\n"
    "Example: voicectl models ls --worker 127.0.0.1:50051",
    no_args_is_help=True,
)
app.command("pull")(pull_command)


def model_to_dict(info: pb.ModelInfo) -> dict[str, object]:
    """Stable JSON shape for one model (documented in docs/cli.md)."""
    return {
        "model_id": info.model_id,
        "adapter": info.adapter,
        "state": ModelState.from_pb(info.state).value,
        "refcount": info.refcount,
        "pinned": info.pinned,
        "last_used_unix_ms": info.last_used_unix_ms,
        "memory_bytes": info.memory_bytes,
        "load_time_ms": info.load_time_ms,
        "warmup_time_ms": info.warmup_time_ms,
        "ttl_seconds": info.ttl_seconds,
        "native_sample_rate": info.native_sample_rate,
        "voices": list(info.voices),
        "capabilities": {
            "streaming_text_input": info.capabilities.streaming_text_input,
            "voice_cloning": info.capabilities.voice_cloning,
            "lora": info.capabilities.lora,
            "devices": list(info.capabilities.devices),
        },
        "error": info.error,
    }


def _call(
    worker: str, action: Callable[[TTSClient], Awaitable[T]], connect_timeout: float = 10.0
) -> T:
    check_worker(worker, timeout=connect_timeout)

    async def run() -> T:
        async with TTSClient(worker) as client:
            with grpc_errors(worker):
                await client.wait_ready(timeout=connect_timeout)
                return await action(client)

    return asyncio.run(run())


def _ago(unix_ms: int) -> str:
    if not unix_ms:
        return "-"
    seconds = max(0.0, time.time() - unix_ms / 1000)
    return f"{seconds:.0f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago"


STATE_STYLE = {"ready": "green", "loading": "yellow", "failed": "red", "unloading": "yellow"}


def _table(reply: pb.ListModelsResponse) -> Table:
    table = Table(title="models", header_style="bold")
    for column in ("model", "adapter", "state", "refs", "pinned", "last used", "memory", "load",
                   "warmup", "ttl", "rate", "voices"):  # fmt: skip
        table.add_column(column)
    for info in reply.models:
        row = model_to_dict(info)
        state = str(row["state"])
        name = info.model_id + (" (default)" if info.model_id == reply.default_model_id else "")
        table.add_row(
            name,
            info.adapter,
            f"[{STATE_STYLE.get(state, 'dim')}]{state}[/]"
            + (f": {info.error}" if info.error else ""),
            str(info.refcount),
            "yes" if info.pinned else "",
            _ago(info.last_used_unix_ms),
            _mib(info),
            f"{info.load_time_ms} ms" if info.load_time_ms else "-",
            f"{info.warmup_time_ms} ms" if info.warmup_time_ms else "-",
            f"{info.ttl_seconds}s" if info.ttl_seconds else "never",
            str(info.native_sample_rate),
            ", ".join(info.voices),
        )
    return table


def resident(reply: pb.ListModelsResponse) -> list[pb.ModelInfo]:
    """The models in memory (loading, ready or unloading)."""
    return [info for info in reply.models if ModelState.from_pb(info.state).in_memory]


def _mib(info: pb.ModelInfo) -> str:
    return f"{info.memory_bytes / 2**20:.0f} MiB" if info.memory_bytes else "-"


def until_eviction(info: pb.ModelInfo, now_unix_ms: int, *, loras: int = 0) -> str:
    """When the idle model leaves memory, as Ollama's `ps` UNTIL column (pure).

    ``loras``: its resident LoRA adapters, each of which holds one reference on it.
    """
    if info.pinned:
        return "never (pinned)"
    streams = info.refcount - loras
    if streams > 0:
        return f"in use by {streams}"
    if loras:
        return f"held by {loras} LoRA" + ("s" if loras > 1 else "")
    if not info.ttl_seconds:
        return "never (no ttl)"
    idle_ms = max(0, now_unix_ms - info.last_used_unix_ms) if info.last_used_unix_ms else 0
    left = max(0.0, info.ttl_seconds - idle_ms / 1000)
    return f"in {left:.0f}s" if left < 120 else f"in {left / 60:.0f}m"


def _ps_table(reply: pb.ListModelsResponse, now_unix_ms: int) -> Table:
    table = Table(title="resident models", header_style="bold")
    for column in ("model", "state", "refs", "memory", "until"):
        table.add_column(column)
    models = resident(reply)
    for info in models:
        state = str(model_to_dict(info)["state"])
        styled = f"[{STATE_STYLE.get(state, 'dim')}]{state}[/]"
        table.add_row(info.model_id, styled, str(info.refcount), _mib(info),
                      until_eviction(info, now_unix_ms, loras=loras_on(info, models)))  # fmt: skip
    return table


def loras_on(info: pb.ModelInfo, models: list[pb.ModelInfo]) -> int:
    """How many of ``models`` are LoRA adapters on ``info`` (``MODEL+lora:NAME``)."""
    return sum(1 for m in models if m.model_id.startswith(f"{info.model_id}{LORA_SEPARATOR}"))


@app.command("ps", help="The models in memory now: refcount, memory and when each is "
             "evicted.\n\nExample: voicectl models ps --worker 127.0.0.1:50051 --json")  # fmt: skip
def ps_command(
    worker: str = typer.Option(DEFAULT_WORKER, help="HOST:PORT of the worker."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    connect_timeout: float = typer.Option(10.0, help=CONNECT_TIMEOUT_HELP),
) -> None:
    reply = _call(worker, lambda c: c.list_models(), connect_timeout)
    now = int(time.time() * 1000)
    if json_out:
        models = resident(reply)
        print_json({"models": [{**model_to_dict(m),
                                "until": until_eviction(m, now, loras=loras_on(m, models))}
                               for m in models]})  # fmt: skip
    else:
        console.print(_ps_table(reply, now))


@app.command("ls", help="List every model the worker knows, loaded or not.\n\n"
             "Example: voicectl models ls --worker 127.0.0.1:50051 --json")  # fmt: skip
def ls_command(
    worker: str = typer.Option(DEFAULT_WORKER, help="HOST:PORT of the worker."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    connect_timeout: float = typer.Option(10.0, help=CONNECT_TIMEOUT_HELP),
    loaded: bool = typer.Option(False, "--loaded", help="Only the models in memory (as ps)."),
) -> None:
    reply = _call(worker, lambda c: c.list_models(), connect_timeout)
    if loaded:
        kept = resident(reply)
        del reply.models[:]
        reply.models.extend(kept)
    if json_out:
        print_json({
            "default_model_id": reply.default_model_id,
            "models": [model_to_dict(m) for m in reply.models],
        })  # fmt: skip
    else:
        console.print(_table(reply))


@app.command(
    "load",
    help="Load a model (waits until READY); optionally pin it or set its TTL.\n\n"
    "Example: voicectl models load mock:sine --ttl 600 --worker 127.0.0.1:50051",
)
def load_command(
    model_id: str = typer.Argument(..., help="Model id, e.g. piper:en_US-joe-medium."),
    worker: str = typer.Option(DEFAULT_WORKER, help="HOST:PORT of the worker."),
    ttl: int | None = typer.Option(None, help="Idle seconds before eviction; 0 = never."),
    pin: bool = typer.Option(False, help="Never evict this model."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    connect_timeout: float = typer.Option(10.0, help=CONNECT_TIMEOUT_HELP),
) -> None:
    if ttl is not None and ttl < 0:
        fail("--ttl must be >= 0 seconds (0 = never evict)", Exit.USAGE)
    with err_console.status(f"loading {model_id} on {worker}…"):
        info = _call(
            worker, lambda c: c.load_model(model_id, ttl_seconds=ttl, pin=pin), connect_timeout
        )
    _report(info, json_out, "loaded")


@app.command(
    "unload",
    help="Unload a model; refuses while streams use it unless --wait.\n\n"
    "Example: voicectl models unload mock:sine --wait --worker 127.0.0.1:50051",
)
def unload_command(
    model_id: str = typer.Argument(..., help="Model id to unload."),
    worker: str = typer.Option(DEFAULT_WORKER, help="HOST:PORT of the worker."),
    wait: bool = typer.Option(False, help="Wait for streams using it to end instead of refusing."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    connect_timeout: float = typer.Option(10.0, help=CONNECT_TIMEOUT_HELP),
) -> None:
    info = _call(worker, lambda c: c.unload_model(model_id, wait_if_in_use=wait), connect_timeout)
    _report(info, json_out, "unloaded")


def _report(info: pb.ModelInfo, json_out: bool, verb: str) -> None:
    if json_out:
        print_json(model_to_dict(info))
        return
    detail = (
        f" in {info.load_time_ms} ms (+{info.warmup_time_ms} ms warmup)" if verb == "loaded" else ""
    )
    console.print(f"{verb} [bold]{info.model_id}[/]{detail}")
