"""Start and stop a worker: gRPC server, health checking, model manager, graceful drain."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from contextlib import suppress
from dataclasses import replace
from urllib.parse import urlsplit

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from voicectl.config_errors import shown_value
from voicectl.config_layers import is_loopback
from voicectl.observability.logging import set_log_context
from voicectl.observability.metrics import MetricsServer, WorkerMetrics
from voicectl.registry import open_registry
from voicectl.registry.base import Registry
from voicectl.rpc.tls import server_credentials
from voicectl.worker.adapters import takes_lora
from voicectl.worker.adapters.lora import attach_lora_path
from voicectl.worker.auth import Credentials, TokenInterceptor
from voicectl.worker.catalog import Catalog, builtin_specs
from voicectl.worker.config import WorkerConfig, config_to_mapping
from voicectl.worker.load import LoadStats, session_counts
from voicectl.worker.metrics import MetricsObserver, watch_worker
from voicectl.worker.model_entry import ManagerLimits
from voicectl.worker.models import ModelManager
from voicectl.worker.registration import (
    RegistrationSettings,
    WorkerRegistration,
    WorkerSnapshot,
    resident_models,
)
from voicectl.worker.servicer import SERVICE_NAME, TTSService, rpc_handler
from voicectl.worker.session import SessionTable
from voicectl.worker.validation import SessionDefaults
from voicectl.worker.voicepacks import VoicepackError, load_voicepacks

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 1 << 20


def build_catalog(config: WorkerConfig) -> Catalog:
    """Built-in models (mock RTF from the config), then voicepacks, which override them."""
    specs = []
    for spec in builtin_specs():
        if spec.adapter == "mock":
            spec = replace(spec, params={**spec.params, "rtf": config.mock_rtf})
        specs.append(spec)
    if config.voicepacks_dir is not None:
        specs += load_voicepacks(config.voicepacks_dir)
    if config.lora_path is not None:
        try:
            specs += attach_lora_path(config.lora_path, specs, takes_lora())
        except ValueError as exc:
            raise VoicepackError(str(exc)) from None
    return Catalog(specs)


class Worker:
    """A running TTS worker. ``await start()``, then ``await stop()``."""

    def __init__(self, config: WorkerConfig, *, catalog: Catalog | None = None) -> None:
        self.config = config
        self.catalog = catalog if catalog is not None else build_catalog(config)
        self.metrics = WorkerMetrics()
        self.load = LoadStats()
        observer = MetricsObserver(self.metrics, load=self.load)
        self.manager = ModelManager(
            events=observer,
            catalog=self.catalog,
            default_model_id=config.default_model,
            limits=ManagerLimits(
                max_loaded=config.max_loaded,
                ttl_seconds=config.ttl_seconds,
                memory_budget_bytes=config.memory_budget_bytes,
                warmup=config.warmup,
            ),
        )
        self.sessions = SessionTable()
        self.service = TTSService(
            manager=self.manager,
            sessions=self.sessions,
            defaults=SessionDefaults(
                target_dbfs=config.target_rms_dbfs, lookahead_ms=config.lookahead_ms
            ),
            observer=observer,
        )
        watch_worker(self.metrics, self.manager, self.sessions)
        self.metrics_server: MetricsServer | None = None
        self.health = health_aio.HealthServicer()
        credentials = Credentials(token=config.token, admin_token=config.admin_token)
        self.server = grpc.aio.server(
            interceptors=[TokenInterceptor(credentials)] if credentials.required else None,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        self.server.add_generic_rpc_handlers([rpc_handler(self.service)])
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self.config.host}:{self.port}"

    def snapshot(self) -> WorkerSnapshot:
        """What the registry's record of this worker says now (call after ``start``)."""
        active, queued = session_counts(self.sessions)
        return WorkerSnapshot(
            port=self.port,
            adapters=tuple(sorted({self.catalog[m].adapter for m in self.catalog})),
            models=resident_models(self.manager.entries()),
            known_models=tuple(self.catalog),
            default_model=self.manager.default_model_id,
            active_sessions=active,
            queue_depth=queued,
            mean_latency_ms=round(self.load.mean_latency_ms, 2),
        )

    async def start(self) -> None:
        """Bind, load the default and preload models, then report SERVING."""
        address = f"{self.config.host}:{self.config.port}"
        if self.config.tls_cert is not None and self.config.tls_key is not None:
            credentials = server_credentials(
                self.config.tls_cert, self.config.tls_key, self.config.tls_client_ca
            )
            self.port = self.server.add_secure_port(address, credentials)
        else:
            self.port = self.server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot listen on {self.config.host}:{self.config.port}")
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        set_log_context(worker_id=self.config.worker_id or self.address)
        await self.server.start()
        if self.config.metrics_port is not None:
            self.metrics_server = MetricsServer(
                self.metrics.registry, port=self.config.metrics_port, host=self.config.host
            )
            log.info("metrics on %s", self.metrics_server.url)
        await self.manager.start(self.config.preload)
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "worker listening on %s (default model %s)", self.address, self.config.default_model
        )

    async def stop(self, grace: float | None = None) -> None:
        """Refuse new streams, let running ones finish for ``grace`` seconds, then close.

        Control keeps working while draining, so a paused stream can still be resumed
        or stopped by its orchestrator.
        """
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.service.draining = True
        drain = self.config.drain_seconds if grace is None else grace
        if len(self.sessions):
            log.info("draining %d session(s) for up to %.1f s", len(self.sessions), drain)
            with suppress(TimeoutError):
                await asyncio.wait_for(self.sessions.empty.wait(), drain)
        await self.server.stop(0)
        await self.manager.close()
        if self.metrics_server is not None:
            await self.metrics_server.aclose()


async def open_worker_registry(config: WorkerConfig) -> Registry | None:
    """Connect to the configured Redis, or None without one (RegistryError if unreachable)."""
    if not config.redis_url:
        return None
    return await open_registry(
        config.redis_url, prefix=config.registry_prefix, secret=config.registry_secret
    )


async def serve(config: WorkerConfig) -> None:
    """Run a worker until SIGINT or SIGTERM, then deregister, drain and exit.

    With ``redis_url`` the registry is reached before the port is bound, so an
    unreachable Redis stops the worker at start with a clear error.
    """
    if log.isEnabledFor(logging.DEBUG):
        shown = {key: shown_value(key, value) for key, value in config_to_mapping(config).items()}
        log.debug("configuration: %s", json.dumps(shown, sort_keys=True))
    registry = await open_worker_registry(config)
    worker = Worker(config)
    registration: WorkerRegistration | None = None
    try:
        await worker.start()
        if registry is not None:
            redis_host = urlsplit(config.redis_url or "").hostname
            settings = RegistrationSettings.for_worker(worker, registry_host=redis_host)
            registration = WorkerRegistration(worker, registry, settings)
            await registration.start()
        if not is_loopback(config.host) and not config.token:
            log.warning(
                "listening on %s without a token: anyone who can reach it may synthesize, "
                "load and unload models (set VOICECTL_TOKEN; docs/security.md)",
                config.host,
            )
        if not is_loopback(config.host) and config.tls_cert is None:
            log.warning(
                "listening on %s in plaintext: tokens and text cross the network in clear "
                "(set tls_cert/tls_key, or put a TLS proxy in front; docs/security.md)",
                config.host,
            )
        log.info(
            "worker ready on %s (pid %d, gpu %s, CUDA_VISIBLE_DEVICES=%s)",
            worker.address,
            os.getpid(),
            ",".join(map(str, config.gpus)) or "none",
            os.environ.get("CUDA_VISIBLE_DEVICES", "unset"),
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutdown requested")
    finally:
        # Leave the routing set first, so no new stream is routed here while draining.
        if registration is not None:
            await registration.stop()
        await worker.stop()
        if registry is not None:
            await registry.close()
