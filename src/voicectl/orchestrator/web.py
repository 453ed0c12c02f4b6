"""``--web HOST:PORT``: the built-in browser page and its WebRTC offer/answer endpoint.

No SFU: the page's peer connection ends in this process (aiortc). ``POST /api/offer``
takes the page's SDP offer (non-trickle: the page waits for its ICE candidates) and
answers with ours; the session then runs over voicectl.orchestrator.transports.webrtc
exactly as a WebSocket session runs. The same admission applies as on the WebSocket
port: the Origin check and, when tokens are set, ``Authorization: Bearer`` (the page
sends the ``?token=`` it was opened with), and the per-client session quota.

With ``--livekit`` too, ``/api/connection-details`` hands out a fresh room and a token
to join it, in the shape LiveKit's agent-starter-react front end asks for, so that
front end can point at this server unchanged (docs/webrtc.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from pathlib import Path

from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from voicectl.livekit_tokens import LiveKitConfigError, LiveKitCredentials
from voicectl.orchestrator.admission import Admission
from voicectl.orchestrator.events import (
    BadJson,
    EventError,
    load_json,
)
from voicectl.orchestrator.quotas import ClientQuotas
from voicectl.orchestrator.transport import RunSession, SessionSettings, media_settings
from voicectl.orchestrator.transports.webrtc import RTC_SAMPLE_RATE, WebRTCTransport, offer_sdp

log = logging.getLogger(__name__)

PAGE_FILES = {
    "/": ("index.html", "text/html"),
    "/app.js": ("app.js", "text/javascript"),
    "/webrtc.js": ("webrtc.js", "text/javascript"),
    "/livekit.js": ("livekit.js", "text/javascript"),
}
# /livekit is the same page with the LiveKit transport in place of the built-in one.
WEBRTC_SCRIPT = '<script src="webrtc.js"></script>'
LIVEKIT_SCRIPTS = (
    '<script src="vendor/livekit-client.js"></script>\n<script src="livekit.js"></script>'
)
# LiveKit's browser SDK, from npm (web_page/package.json), served as published.
LIVEKIT_CLIENT_ENV = "VOICECTL_LIVEKIT_CLIENT_JS"
LIVEKIT_CLIENT = ("node_modules", "livekit-client", "dist", "livekit-client.umd.js")
NPM_HINT = "npm ci --prefix src/voicectl/orchestrator/web_page (docs/webrtc.md)"
MAX_OFFER_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 20.0  # answered but never connected (ICE failed, page closed)
INPUT_SAMPLE_RATE = 16000  # what VAD and ASR take; the mic's 48 kHz is resampled to it
DETAILS_PATH = "/api/connection-details"


@dataclass(frozen=True)
class LiveKitRooms:
    """What ``/api/connection-details`` signs with, and the server URL browsers reach."""

    credentials: LiveKitCredentials
    public_url: str = ""
    agent_name: str = ""


def _page(name: str) -> bytes:
    return resources.files("voicectl.orchestrator").joinpath("web_page", name).read_bytes()


def livekit_client_js() -> Path | None:
    """Where livekit-client's browser bundle is: VOICECTL_LIVEKIT_CLIENT_JS, else npm's
    install beside the page; None when neither exists."""
    given = os.environ.get(LIVEKIT_CLIENT_ENV)
    path = Path(given) if given else Path(str(resources.files("voicectl.orchestrator")))
    if not given:
        path = path.joinpath("web_page", *LIVEKIT_CLIENT)
    return path if path.is_file() else None


def _error(status: HTTPStatus, code: str, message: str) -> web.Response:
    return web.json_response({"type": "error", "code": code, "message": message}, status=status)


def _cors(origin: str | None) -> dict[str, str]:
    """Headers that let ``origin`` (already admitted) read the answer."""
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type, Authorization"}  # fmt: skip


def _asked_agent(body: object, default: str) -> str:
    """agent-starter-react's ``{"room_config": {"agents": [{"agent_name": ...}]}}``."""
    if body is None or body == {}:
        return default
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object (or empty)")
    config = body.get("room_config", {})
    agents = config.get("agents", []) if isinstance(config, dict) else None
    if not isinstance(agents, list) or not all(isinstance(a, dict) for a in agents):
        raise ValueError('room_config.agents must be a list of {"agent_name": ...} objects')
    names = [a.get("agent_name", "") for a in agents]
    if not all(isinstance(n, str) and len(n) <= 128 for n in names):
        raise ValueError("room_config.agents[].agent_name must be a string of <= 128 characters")
    return next((n for n in names if n), default)


class WebServer:
    """``await start()``; ``address`` is then ``http://host:port``; ``await stop()``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        admission: Admission,
        quotas: ClientQuotas,
        run_session: RunSession,
        default_voice: tuple[str, str] = ("", ""),
        livekit: LiveKitRooms | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._admission = admission
        self._quotas = quotas
        self._run_session = run_session
        self._default_voice = default_voice
        self._livekit = livekit
        self._tls = tls  # https:// (browsers' getUserMedia wants it beyond localhost)
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.transports: dict[str, WebRTCTransport] = {}

    @property
    def address(self) -> str:
        return f"{'http' if self._tls is None else 'https'}://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_OFFER_BYTES)
        app.router.add_get("/", self._static)
        for path in PAGE_FILES:
            if path != "/":
                app.router.add_get(path, self._static)
        app.router.add_get("/livekit", self._livekit_page)
        app.router.add_get("/vendor/livekit-client.js", self._livekit_client)
        app.router.add_get("/healthz", self._health)
        app.router.add_post("/api/offer", self._offer)
        for method in ("GET", "POST", "OPTIONS"):
            app.router.add_route(method, DETAILS_PATH, self._connection_details)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._tls)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the bound one when 0 was asked
        log.info("web page and WebRTC offers on %s", self.address)

    async def stop(self) -> None:
        for transport in list(self.transports.values()):
            await transport.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _static(self, request: web.Request) -> web.Response:
        name, content_type = PAGE_FILES[request.path]
        return web.Response(body=_page(name), content_type=content_type)

    async def _livekit_page(self, request: web.Request) -> web.Response:
        page = _page("index.html").decode().replace(WEBRTC_SCRIPT, LIVEKIT_SCRIPTS)
        return web.Response(text=page.replace("<title>voicectl</title>",
                                              "<title>voicectl (LiveKit)</title>"),
                            content_type="text/html")  # fmt: skip

    async def _livekit_client(self, request: web.Request) -> web.StreamResponse:
        bundle = livekit_client_js()
        if bundle is None:
            message = f"livekit-client is not installed beside the page: {NPM_HINT}"
            return _error(HTTPStatus.NOT_FOUND, "no_livekit_client", message)
        return web.FileResponse(bundle, headers={"Content-Type": "text/javascript"})

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _offer(self, request: web.Request) -> web.Response:
        refusal = self._admission.decide(request.headers, request.path_qs)
        if refusal is not None:
            return _error(refusal.status, "refused", refusal.reason)
        client = self._admission.client_key(request.headers, request.path_qs, request.remote or "?")
        busy = self._quotas.refuse_session(client)
        if busy is not None:
            return _error(HTTPStatus.TOO_MANY_REQUESTS, "busy", busy)
        try:
            text = await request.text()
        except web.HTTPRequestEntityTooLarge:
            message = f"the offer must be at most {MAX_OFFER_BYTES} bytes"
            return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large", message)
        try:
            body = load_json(text, "offer")
            sdp = offer_sdp(body)
            settings = self._settings(body)
        except BadJson as exc:
            return _error(HTTPStatus.BAD_REQUEST, "bad_json", str(exc))
        except EventError as exc:
            return _error(HTTPStatus.BAD_REQUEST, exc.code, exc.message)
        except ValueError as exc:  # a field of the offer
            return _error(HTTPStatus.BAD_REQUEST, "bad_offer", str(exc).splitlines()[0][:300])
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # loopback/LAN: host candidates
        transport = WebRTCTransport(pc, settings, throttle=lambda: self._quotas.throttle(client))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc raises ValueError and others on a bad SDP
            await pc.close()
            return _error(HTTPStatus.BAD_REQUEST, "bad_offer", f"the SDP offer was refused: {exc}")
        if not self._quotas.opened(client):
            await pc.close()
            return _error(HTTPStatus.TOO_MANY_REQUESTS, "busy", "too many conversations open")
        task = asyncio.create_task(self._converse(transport, client), name="rtc-session")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        answer = pc.localDescription
        return web.json_response(
            {"type": answer.type, "sdp": answer.sdp, "session_id": settings.session_id}
        )

    async def _connection_details(self, request: web.Request) -> web.Response:
        """A new room, a user and its token; another origin's page may ask (CORS) when
        auth.allowed_origins lists it."""
        # A preflight carries no credentials: only its Origin is checked.
        preflight = request.method == "OPTIONS"
        admission = self._admission.open_to_all() if preflight else self._admission
        refusal = admission.decide(request.headers, request.path_qs)
        if refusal is not None:
            return _error(refusal.status, "refused", refusal.reason)
        cors = _cors(request.headers.get("Origin"))
        if preflight:
            return web.Response(status=HTTPStatus.NO_CONTENT, headers=cors)
        if self._livekit is None:
            message = "this orchestrator has no LiveKit server: start it with --livekit URL"
            return _error(HTTPStatus.NOT_FOUND, "no_livekit", message)
        agent_name = self._livekit.agent_name
        text = await request.text() if request.method == "POST" else ""
        if text.strip():
            try:
                agent_name = _asked_agent(load_json(text, "request"), agent_name)
            except BadJson as exc:
                return _error(HTTPStatus.BAD_REQUEST, "bad_json", str(exc))
            except ValueError as exc:
                return _error(HTTPStatus.BAD_REQUEST, "bad_field", str(exc))
        rooms = self._livekit
        try:
            details = rooms.credentials.connection_details(
                public_url=rooms.public_url, agent_name=agent_name
            )
        except LiveKitConfigError as exc:
            return _error(HTTPStatus.BAD_REQUEST, "bad_field", str(exc))
        return web.json_response(details, headers=cors)

    def _settings(self, body: dict[str, object]) -> SessionSettings:
        """Our rates, and the voice the page asks for (checked like a WebSocket ``start``)."""
        return media_settings(
            "rtc", input_sample_rate=INPUT_SAMPLE_RATE, output_sample_rate=RTC_SAMPLE_RATE,
            model_id=body.get("model_id", ""), voice=body.get("voice", ""),
            default_voice=self._default_voice,
        )  # fmt: skip

    async def _converse(self, transport: WebRTCTransport, client: str) -> None:
        """Wait for the page to connect, then one session; the quota place is held from
        the answer to the end."""
        session_id = transport.settings.session_id
        self.transports[session_id] = transport
        try:
            try:
                await asyncio.wait_for(transport.connected.wait(), CONNECT_TIMEOUT_S)
            except TimeoutError:
                log.warning("WebRTC session %s never connected", session_id)
                await transport.close()
                return
            await self._run_session(transport, transport.settings)
        finally:
            self.transports.pop(session_id, None)
            self._quotas.closed(client)
