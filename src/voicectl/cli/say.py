"""``voicectl say``: speak one text into a WAV file, through a worker or an embedded one."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import typer

from voicectl.audio.frames import SUPPORTED_SAMPLE_RATES
from voicectl.audio.wav import write_wav
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
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.worker.config import ConfigError, load_worker_config
from voicectl.worker.server import Worker

HELP = """Speak TEXT into a WAV file.

Without --worker an embedded worker runs in this process on the default model.

Example: voicectl say "Hello there." --output hello.wav
"""


async def _say(
    text: str, target: str | None, request: SynthesisRequest, out: Path, connect_timeout: float
) -> dict[str, object]:
    worker: Worker | None = None
    if target is None:
        worker = Worker(load_worker_config(cli={"port": 0, "ttl": "never"}))
        with err_console.status("loading the default model…"):
            await worker.start()
        target = worker.address
    try:
        async with TTSClient(target) as client:
            with grpc_errors(target):
                await client.wait_ready(timeout=connect_timeout)
                started = time.perf_counter()
                pcm, rate, frames = await collect_pcm(client.synthesize(text, request))
        elapsed = time.perf_counter() - started
    finally:
        if worker is not None:
            await worker.stop(grace=0)
    write_wav(out, pcm, rate)
    return {
        "out": str(out),
        "sample_rate": rate,
        "frames": len(frames),
        "seconds": round(len(pcm) / 2 / rate, 3) if rate else 0.0,
        "synthesis_seconds": round(elapsed, 3),
        "model_id": request.model_id or "(default)",
        "worker": target if worker is None else "embedded",
    }


def say_command(
    text: str = typer.Argument(..., help="What to say."),
    out: Path = typer.Option(..., "--output", "-o", "--out", help="WAV file to write."),
    worker: str | None = typer.Option(None, help="HOST:PORT of a running worker."),
    model: str = typer.Option("", help="Model id, e.g. mock:sine (default: the worker's)."),
    voice: str = typer.Option("", help="Voice of the model (default: the model's)."),
    rate: int = typer.Option(0, help="Output sample rate in Hz (0 = the model's native rate)."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    connect_timeout: float = typer.Option(10.0, help=CONNECT_TIMEOUT_HELP),
    log_level: str = typer.Option("warning", help=LOG_LEVEL_HELP),
    quiet: bool = QUIET,
    verbose: bool = VERBOSE,
) -> None:
    start_logging(log_level, quiet=quiet, verbose=verbose)
    if rate != 0 and rate not in SUPPORTED_SAMPLE_RATES:
        rates = ", ".join(str(r) for r in SUPPORTED_SAMPLE_RATES)
        fail(f"--rate {rate} is not supported; use 0 (the model's own rate) or one of {rates}",
             Exit.USAGE)  # fmt: skip
    if worker is not None:
        check_worker(worker, timeout=connect_timeout)
    request = SynthesisRequest(model_id=model, voice=voice, sample_rate=rate)
    try:
        summary = asyncio.run(_say(text, worker, request, out, connect_timeout))
    except ConfigError as exc:
        fail(str(exc), Exit.USAGE)
    if json_out:
        print_json(summary)
    else:
        console.print(
            f"wrote [bold]{summary['out']}[/]: {summary['seconds']} s at "
            f"{summary['sample_rate']} Hz ({summary['frames']} frames)"
        )
