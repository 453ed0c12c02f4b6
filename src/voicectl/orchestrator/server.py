"""The orchestrator service: one Session per WebSocket connection or, with ``--web``,
per browser peer connection (orchestrator/web.py).

Shared per process: the ASR model and the TTS backend (the gRPC channel to the
worker, or the registry's routed workers). The backend is opened by an ``OpenTTS``
the composition root (voicectl.app) hands in: it decides between Redis routing, a
given worker and an embedded one, so this package never opens Redis nor starts a
worker itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from voicectl.config_layers import is_loopback
from voicectl.observability.logging import set_log_context
from voicectl.observability.metrics import MetricsServer, OrchestratorMetrics
from voicectl.orchestrator.admission import Admission, Refusal
from voicectl.orchestrator.asr import AsrEngine
from voicectl.orchestrator.config import OrchestratorConfig
from voicectl.orchestrator.llm import LLMBridge, build_llm
from voicectl.orchestrator.memory_trim import MemoryTrimmer
from voicectl.orchestrator.quotas import ClientQuotas
from voicectl.orchestrator.session import Session
from voicectl.orchestrator.transport import SessionSettings, Transport
from voicectl.orchestrator.transports.websocket import MAX_MESSAGE_BYTES, WebSocketTransport
from voicectl.orchestrator.tts import DirectTTS, TTSBackend
from voicectl.web_tls import server_context

if TYPE_CHECKING:  # aiortc loads only with --web, livekit only with --livekit
    from voicectl.orchestrator.livekit_agent import LiveKitAgent
    from voicectl.orchestrator.web import WebServer

log = logging.getLogger(__name__)


OpenTTS = Callable[[OrchestratorConfig, OrchestratorMetrics], Awaitable[TTSBackend]]


async def given_worker(config: OrchestratorConfig, metrics: OrchestratorMetrics) -> TTSBackend:
    """The backend an orchestrator has without the composition root: the worker its
    config names. Redis routing and the embedded worker come from voicectl.app."""
    if config.redis or not config.worker:
        raise ValueError(
            "this orchestrator can only use a given worker (--worker HOST:PORT): build it "
            "with voicectl.app.build_orchestrator for Redis routing or an embedded worker"
        )
    return DirectTTS(config.worker, timeouts=config.tts_timeouts)


HEALTH_PATH = "/healthz"  # for probes: `voicectl health orchestrator`, containers


class Orchestrator:
    """``await start()``; ``address`` is then ``ws://host:port``; ``await stop()``."""

    def __init__(
        self,
        config: OrchestratorConfig,
        *,
        asr: AsrEngine | None = None,
        open_tts: OpenTTS = given_worker,
        keep_finished: int = 0,
    ) -> None:
        """``open_tts`` opens the backend replies are synthesized on, at ``start``.
        ``keep_finished``: how many ended sessions ``finished_sessions`` keeps for an
        in-process reader (the benches' figures, tests); a served orchestrator keeps
        none, so each session's audio and figures go with it."""
        self.config = config
        self.keep_finished = keep_finished
        self.asr = asr
        self._open_tts = open_tts
        self.tts: TTSBackend | None = None
        self.sessions: dict[str, Session] = {}
        self.finished_sessions: list[Session] = []
        self._server: Server | None = None
        self.port = 0
        self.metrics = OrchestratorMetrics()
        self.metrics_server: MetricsServer | None = None
        self.web: WebServer | None = None  # --web: the browser page over WebRTC
        self.livekit: LiveKitAgent | None = None  # --livekit: rooms of a LiveKit server
        self.admission = Admission(
            tokens=config.auth_tokens, allowed_origins=config.allowed_origins,
            token_secret=config.auth_token_secret,
        )  # fmt: skip
        self.quotas = ClientQuotas(config.client_limits)
        self.trimmer = MemoryTrimmer.for_this_process()

    @property
    def address(self) -> str:
        scheme = "ws" if self.config.tls_cert is None else "wss"
        return f"{scheme}://{self.config.host}:{self.port}"

    def _tls(self) -> ssl.SSLContext | None:
        cfg = self.config
        if cfg.tls_cert is None or cfg.tls_key is None:
            return None
        return server_context(cfg.tls_cert, cfg.tls_key)

    async def start(self) -> None:
        tls = self._tls()  # a certificate that cannot be used stops the start at once
        self.tts = await self._open_tts(self.config, self.metrics)
        if self.asr is None:
            cfg = self.config
            self.asr = await asyncio.to_thread(
                AsrEngine.load,
                model=cfg.asr_model or None,
                device=cfg.asr_device,
                compute_type=cfg.asr_compute_type,
            )
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.ws_port,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,
            process_request=self._admit,
            ssl=tls,
        )
        sock = next(iter(self._server.sockets))
        self.port = int(sock.getsockname()[1])
        if self.config.livekit.url:
            await self._join_livekit()
        if self.config.web:
            from voicectl.orchestrator.web import LiveKitRooms, WebServer

            rooms = None
            if self.livekit is not None:
                lk = self.config.livekit
                rooms = LiveKitRooms(self.livekit.credentials, lk.public_url, lk.agent_name)

            host, _, port = self.config.web.rpartition(":")
            self.web = WebServer(
                host, int(port), admission=self.admission, quotas=self.quotas,
                run_session=self.run_session,
                default_voice=(self.config.model_id, self.config.voice), livekit=rooms,
                tls=tls,
            )  # fmt: skip
            await self.web.start()
        if self.config.metrics_port is not None:
            self.metrics_server = MetricsServer(
                self.metrics.registry, port=self.config.metrics_port, host=self.config.host
            )
            log.info("metrics on %s", self.metrics_server.url)
        if not is_loopback(self.config.host) and not self.admission.needs_token:
            log.warning(
                "listening on %s without a token: anyone who can reach it may talk to the "
                "agent (set auth.tokens / VOICECTL_AUTH__TOKENS; docs/security.md)",
                self.config.host,
            )
        if not is_loopback(self.config.host) and tls is None:
            log.warning(
                "listening on %s in plaintext: tokens, audio and transcripts cross the network "
                "in clear (set tls_cert/tls_key, or put a TLS proxy in front; docs/security.md)",
                self.config.host,
            )
        log.info("orchestrator listening on %s (tts: %s)", self.address, self.tts.target)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self.web is not None:
            await self.web.stop()
        if self.livekit is not None:
            await self.livekit.stop()
        for session in list(self.sessions.values()):
            await session.close()
        if self.tts is not None:
            await self.tts.close()
        if self.metrics_server is not None:
            await self.metrics_server.aclose()

    async def _join_livekit(self) -> None:
        """Register as the LiveKit server's agent: it sends us into rooms as users open them."""
        from voicectl.livekit_tokens import LiveKitCredentials, require_livekit

        require_livekit()
        from voicectl.orchestrator.livekit_agent import LiveKitAgent

        cfg = self.config.livekit
        credentials = LiveKitCredentials.resolve(cfg.url, cfg.api_key, cfg.api_secret)
        self.livekit = LiveKitAgent(
            credentials, self.run_session, agent_name=cfg.agent_name,
            default_voice=(self.config.model_id, self.config.voice),
            throttle=lambda identity: partial(self.quotas.throttle, f"livekit:{identity}"),
        )  # fmt: skip
        await self.livekit.start()

    def _llm(self) -> LLMBridge:
        settings = self.config.llm
        if settings.kind == "echo":
            return build_llm("echo")
        return build_llm(
            "openai",
            base_url=settings.base_url,
            model=settings.model,
            api_key=os.environ.get(settings.api_key_env),
            timeout_s=settings.timeout_s,
        )

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer ``GET /healthz``; refuse a handshake without the token or from a foreign
        page, before any session."""
        if urlsplit(request.path).path == HEALTH_PATH:
            # Open like gRPC health: a container probe needs no secret, and says only "up".
            return connection.respond(HTTPStatus.OK, "ok\n")
        refusal = self.admission.decide(request.headers, request.path)
        if refusal is None:
            busy = self.quotas.refuse_session(self._client(connection, request))
            if busy is None:
                return None
            refusal = Refusal(HTTPStatus.TOO_MANY_REQUESTS, busy)
        log.warning("refused a connection from %s: %s", connection.remote_address, refusal.reason)
        return connection.respond(refusal.status, refusal.reason + "\n")

    def _client(self, connection: ServerConnection, request: Request) -> str:
        """Who counts as one client for the quotas: its token's user, or its address."""
        host = str(connection.remote_address[0]) if connection.remote_address else "?"
        return self.admission.client_key(request.headers, request.path, host)

    async def _handle(self, connection: ServerConnection) -> None:
        """One connection, counted against its client's quota from the first byte: a
        connection that never sends ``start`` still holds a place until it times out."""
        assert connection.request is not None  # the HTTP handshake is done
        client = self._client(connection, connection.request)
        if not self.quotas.opened(client):  # its other connections opened meanwhile
            await connection.close(1013, "too many conversations open for this client")
            return
        try:
            await self._converse(connection)
        finally:
            self.quotas.closed(client)

    async def _converse(self, connection: ServerConnection) -> None:
        """The transport runs the ``start`` exchange; then one session, to the end."""
        assert connection.request is not None
        client = self._client(connection, connection.request)
        transport = await WebSocketTransport.accept(
            connection, throttle=partial(self.quotas.throttle, client),
            audio_meter=self.config.client_limits.audio_meter(),
        )  # fmt: skip
        if transport is None:  # refused, timed out or gone: the transport closed it
            return
        settings = transport.settings
        if not settings.model_id and self.config.model_id:
            settings = replace(settings, model_id=self.config.model_id, voice=self.config.voice)
        await self.run_session(transport, settings)

    async def run_session(self, transport: Transport, settings: SessionSettings) -> None:
        """One conversation over any transport, from its negotiated settings to its end."""
        assert self.tts is not None
        assert self.asr is not None
        llm = self._llm()
        session = Session(
            settings=settings,
            transport=transport,
            tts=self.tts,
            asr=self.asr,
            llm=llm,
            policy=self.config.policy,
            metrics=self.metrics,
            system_prompt=self.config.llm.system_prompt,
        )
        self.sessions[settings.session_id] = session
        self.metrics.sessions.inc()
        set_log_context(session_id=settings.session_id)
        log.info("session %s started (in %d Hz, out %d Hz)", settings.session_id,
                 settings.input_sample_rate, settings.output_sample_rate)  # fmt: skip
        try:
            await session.run()
        finally:
            await transport.close()
            self.tts.release(settings.session_id)
            self.sessions.pop(settings.session_id, None)
            self.metrics.sessions.dec()
            if self.keep_finished:
                self.finished_sessions.append(session)
                del self.finished_sessions[: -self.keep_finished]
            await llm.aclose()
            self.trimmer.session_ended()  # its freed buffers back to the OS, now and then
            log.info("session %s ended", settings.session_id)
