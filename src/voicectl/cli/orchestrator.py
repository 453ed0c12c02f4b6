"""``voicectl orchestrator``: placeholder that streams one reply from a worker and logs frames.

The full orchestrator (WebSocket sessions, VAD, barge-in, ASR, LLM) replaces it.
"""

from __future__ import annotations

import asyncio
import logging

import typer

from voicectl.cli.common import grpc_errors
from voicectl.observability.logging import setup_logging
from voicectl.rpc.client import SynthesisRequest, TTSClient

HELP = """Connect to a worker, speak one line and log the frames (placeholder).

Example: voicectl orchestrator --worker 127.0.0.1:50051 --text "Hello."
"""

log = logging.getLogger("voicectl.orchestrator")


async def _run(target: str, text: str, model: str) -> int:
    async with TTSClient(target) as client:
        with grpc_errors(target):
            await client.wait_ready(timeout=10)
            count = 0
            async for frame in client.synthesize(text, SynthesisRequest(model_id=model)):
                count += 1
                log.info(
                    "frame seq=%d offset=%d rate=%d bytes=%d final=%s",
                    frame.sequence,
                    frame.sample_offset,
                    frame.sample_rate,
                    len(frame.pcm),
                    frame.final,
                )
    return count


def orchestrator_command(
    worker: str = typer.Option("127.0.0.1:50051", help="HOST:PORT of a worker."),
    text: str = typer.Option("Hello from the orchestrator.", help="Line to speak."),
    model: str = typer.Option("", help="Model id (default: the worker's)."),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
) -> None:
    setup_logging(log_level)
    count = asyncio.run(_run(worker, text, model))
    log.info("received %d frames from %s", count, worker)
