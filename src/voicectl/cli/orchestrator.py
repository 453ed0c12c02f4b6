"""``voicectl orchestrator``: conversations over WebSocket in front of a TTS worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from voicectl.app import serve_orchestrator
from voicectl.cli.common import (
    LOG_FORMAT,
    LOG_LEVEL_HELP,
    QUIET,
    VERBOSE,
    Exit,
    fail,
    start_logging,
)
from voicectl.livekit_tokens import LiveKitConfigError
from voicectl.orchestrator.config import OrchestratorConfigError, load_orchestrator_config
from voicectl.registry.base import RegistryUnavailable
from voicectl.web_tls import WebTLSError

HELP = """Run the conversation service: WebSocket sessions with VAD, barge-in, ASR, LLM and TTS.

Without --worker it runs an embedded worker on the default Piper voice.

Example: voicectl orchestrator --ws-port 8765 --worker 127.0.0.1:50051
Example: voicectl orchestrator --web 127.0.0.1:8080   (then open http://127.0.0.1:8080/)
Example: voicectl orchestrator --livekit ws://127.0.0.1:7880 --livekit-key K --livekit-secret S
"""


# Keys whose flag is not ``--`` + the key with dashes, so errors name the flag typed.
FLAGS = {
    "llm.kind": "--llm", "llm.base_url": "--llm-url", "llm.model": "--llm-model",
    "livekit.url": "--livekit", "livekit.api_key": "--livekit-key",
    "livekit.api_secret": "--livekit-secret",
}  # fmt: skip


def orchestrator_command(
    ws_port: int | None = typer.Option(None, help="WebSocket port (0 = any free port)."),
    host: str | None = typer.Option(None, help="Address to bind (default 127.0.0.1)."),
    web: str | None = typer.Option(
        None,
        help="Also serve the browser page and its WebRTC endpoint on HOST:PORT "
        "(e.g. 127.0.0.1:8080); open http://HOST:PORT/ to talk.",
    ),
    livekit: str | None = typer.Option(
        None,
        help="Also be the agent of this LiveKit server's rooms (ws://HOST:PORT): it joins "
        "each room a user opens.",
    ),
    livekit_key: str | None = typer.Option(
        None, help="LiveKit API key (default: livekit.api_key, then LIVEKIT_API_KEY)."
    ),
    livekit_secret: str | None = typer.Option(
        None, help="LiveKit API secret (default: livekit.api_secret, then LIVEKIT_API_SECRET)."
    ),
    worker: str | None = typer.Option(
        None,
        help="TTS worker: HOST:PORT or grpc://HOST:PORT; redis://... routes over a "
        "registry; embedded:// runs one in-process (the default).",
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML config, e.g. configs/orchestrator.yaml."
    ),
    llm: str | None = typer.Option(None, help="echo or openai (OpenAI-compatible server)."),
    llm_url: str | None = typer.Option(None, help="Base URL of the OpenAI-compatible API."),
    llm_model: str | None = typer.Option(None, help="Model name for the LLM API."),
    redis: str | None = typer.Option(
        None, help="Route replies over the workers registered in this Redis (redis://...)."
    ),
    routing: str | None = typer.Option(
        None, help="Routing policy with --redis: least-busy, prefer-resident or random."
    ),
    metrics_port: int | None = typer.Option(
        None, help="Serve Prometheus /metrics on this port (0 = any free port)."
    ),
    tls_cert: Path | None = typer.Option(
        None, help="TLS certificate (PEM): wss:// and https:// on the orchestrator's ports."
    ),
    tls_key: Path | None = typer.Option(None, help="Its private key (PEM)."),
    log_level: str = typer.Option("info", help=LOG_LEVEL_HELP),
    quiet: bool = QUIET,
    verbose: bool = VERBOSE,
    log_format: str = LOG_FORMAT,
) -> None:
    log_level = start_logging(
        log_level, quiet=quiet, verbose=verbose, log_format=log_format, service="orchestrator"
    )
    given = {
        "ws_port": ws_port,
        "host": host,
        "web": web,
        "worker": worker,
        "metrics_port": metrics_port,
        "tls_cert": None if tls_cert is None else str(tls_cert),
        "tls_key": None if tls_key is None else str(tls_key),
        "redis": redis,
        "routing": routing,
        "llm": {"kind": llm, "base_url": llm_url, "model": llm_model},
        "livekit": {"url": livekit, "api_key": livekit_key, "api_secret": livekit_secret},
    }
    try:
        settings = load_orchestrator_config(config, cli=given, flags=FLAGS)
    except OrchestratorConfigError as exc:
        fail(str(exc), Exit.USAGE)
    try:
        asyncio.run(serve_orchestrator(settings))
    except (LiveKitConfigError, WebTLSError) as exc:
        fail(str(exc), Exit.USAGE)
    except RegistryUnavailable as exc:
        fail(str(exc), Exit.UNAVAILABLE)
    except OSError as exc:
        fail(str(exc), Exit.UNAVAILABLE)
