"""``voicectl worker``: run a gRPC TTS worker."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer
from grpc import StatusCode

from voicectl.cli.common import (
    LOG_FORMAT,
    LOG_LEVEL_HELP,
    QUIET,
    VERBOSE,
    Exit,
    fail,
    start_logging,
)
from voicectl.registry.base import RegistryError
from voicectl.worker.config import ConfigError, load_worker_config
from voicectl.worker.errors import RequestError
from voicectl.worker.server import serve
from voicectl.worker.supervisor import supervise
from voicectl.worker.voicepacks import VoicepackError

HELP = """Run a gRPC TTS worker: streaming text in, 20 ms PCM frames out.

Example: voicectl worker --port 50051 --default-model piper:en_US-joe-medium --ttl 300

Scale-out (docs/registry.md): voicectl worker --host 0.0.0.0 --redis redis://10.0.0.5:6379/0
--advertise-host 10.0.0.7 --gpu 0,1
"""


# Keys whose flag is not ``--`` + the key with dashes, so errors name the flag typed.
FLAGS = {"voicepacks_dir": "--voicepacks"}


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def worker_command(
    port: int | None = typer.Option(None, help="Port to listen on (0 = any free port)."),
    host: str | None = typer.Option(None, help="Address to bind (default 127.0.0.1)."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML config, e.g. configs/worker.yaml."
    ),
    default_model: str | None = typer.Option(None, help="Model pinned and loaded at start."),
    preload: str | None = typer.Option(None, help="Comma-separated models to load at start."),
    ttl: str | None = typer.Option(None, help="Idle seconds before a model is evicted; 0 = never."),
    max_loaded: int | None = typer.Option(None, help="Most models resident at once."),
    memory_budget: str | None = typer.Option(None, help="Evict LRU models over this, e.g. 4GiB."),
    voicepacks: Path | None = typer.Option(None, help="Folder of <name>/voicepack.yaml files."),
    lora_path: Path | None = typer.Option(
        None,
        "--lora-path",
        "--lora_path",
        help="peft LoRA adapters (a folder of them, or one) for the model that takes LoRA; "
        "each is the model MODEL+lora:FOLDER.",
    ),
    redis: str | None = typer.Option(
        None, help="Register in this Redis, e.g. redis://:PASSWORD@host:6379/0 (rediss:// = TLS)."
    ),
    advertise_host: str | None = typer.Option(
        None, help="Address routers dial (default: --host, or the route to Redis for 0.0.0.0)."
    ),
    heartbeat: float | None = typer.Option(None, help="Seconds between registry heartbeats."),
    registry_ttl: float | None = typer.Option(
        None, help="Seconds a record lives without a heartbeat (default 3 x --heartbeat)."
    ),
    worker_id: str | None = typer.Option(None, help="Registry id (default ADVERTISE_HOST:PORT)."),
    registry_prefix: str | None = typer.Option(None, help="Redis key prefix (default voicectl)."),
    gpu: str | None = typer.Option(
        None, help="GPU index, 'all', or a list (0,1): one supervised process per GPU."
    ),
    metrics_port: int | None = typer.Option(
        None, help="Serve Prometheus /metrics on this port (0 = any free port)."
    ),
    tls_cert: Path | None = typer.Option(None, help="TLS certificate (PEM) for the gRPC port."),
    tls_key: Path | None = typer.Option(None, help="Its private key (PEM)."),
    tls_client_ca: Path | None = typer.Option(
        None, help="Mutual TLS: admit only clients whose certificate this CA (PEM) signed."
    ),
    log_level: str = typer.Option("info", help=LOG_LEVEL_HELP),
    quiet: bool = QUIET,
    verbose: bool = VERBOSE,
    log_format: str = LOG_FORMAT,
) -> None:
    log_level = start_logging(
        log_level, quiet=quiet, verbose=verbose, log_format=log_format, service="worker"
    )
    try:
        settings = load_worker_config(
            yaml_path=config,
            cli={
                "port": port,
                "host": host,
                "default_model": default_model,
                "preload": preload,
                "ttl": ttl,
                "max_loaded": max_loaded,
                "memory_budget": memory_budget,
                "voicepacks_dir": _text(voicepacks),
                "lora_path": _text(lora_path),
                "redis": redis,
                "advertise_host": advertise_host,
                "heartbeat": heartbeat,
                "registry_ttl": registry_ttl,
                "worker_id": worker_id,
                "registry_prefix": registry_prefix,
                "gpu": gpu,
                "metrics_port": metrics_port,
                "tls_cert": _text(tls_cert),
                "tls_key": _text(tls_key),
                "tls_client_ca": _text(tls_client_ca),
            },
            flags=FLAGS,
        )
        if len(settings.gpus) > 1:
            if settings.worker_id:
                fail("--worker-id names one process; leave it out with several GPUs", Exit.USAGE)
            code = asyncio.run(supervise(settings, log_level=log_level))
            raise typer.Exit(code)
        if settings.gpus:  # one GPU: in this process
            os.environ["CUDA_VISIBLE_DEVICES"] = str(settings.gpus[0])
        asyncio.run(serve(settings))
    except (ConfigError, VoicepackError) as exc:
        fail(str(exc), Exit.USAGE)
    except RegistryError as exc:
        fail(str(exc), Exit.UNAVAILABLE)
    except RequestError as exc:  # e.g. an unknown or broken model in --preload
        fail(exc.message, Exit.NOT_FOUND if exc.code == StatusCode.NOT_FOUND else Exit.FAILURE)
    except ValueError as exc:
        fail(str(exc), Exit.USAGE)
    except OSError as exc:
        fail(str(exc), Exit.UNAVAILABLE)
