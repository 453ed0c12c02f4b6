"""``--livekit URL``: the orchestrator as an agent the LiveKit server dispatches.

It registers on the server's ``/agent`` endpoint with the protocol LiveKit's Agents
SDK speaks (livekit.protocol.agent: register, availability, assignment, job status),
so the server sends it into a room when a user opens one: every new room when
``agent_name`` is empty, else the rooms whose token or dispatch names it. Each job is
one session over voicectl.orchestrator.transports.livekit. livekit-agents itself is
not used: it pins an older livekit SDK and brings its own pipeline; voicectl needs
only the dispatch (docs/webrtc.md says more).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from contextlib import suppress

import aiohttp
from livekit import rtc
from livekit.protocol import agent, models

from voicectl.livekit_tokens import LiveKitCredentials
from voicectl.orchestrator.events import Error, EventError
from voicectl.orchestrator.transport import RunSession, SessionSettings, media_settings
from voicectl.orchestrator.transports.livekit import LiveKitTransport, is_user

log = logging.getLogger(__name__)

Throttle = Callable[[], str | None]  # a reason when the user sends too fast, else None
INPUT_SAMPLE_RATE = 16000
OUTPUT_SAMPLE_RATE = 48000  # Opus's rate: the SDK sends it as produced
STATUS_INTERVAL_S = 2.5  # load reports, as the Agents SDK sends them
USER_TIMEOUT_S = 30.0  # dispatched, but nobody (else) came into the room
RETRY_DELAYS_S = (0.5, 1, 2, 5, 10)
AGENT_IDENTITY_PREFIX = "voicectl-agent-"


class DispatchError(ConnectionError):
    """The LiveKit server refused or dropped the agent's registration."""


class LiveKitAgent:
    """``await start()`` registers (raises DispatchError if the server says no);
    jobs then run in the background until ``await stop()``."""

    def __init__(
        self,
        credentials: LiveKitCredentials,
        run_session: RunSession,
        *,
        agent_name: str = "",
        max_sessions: int = 16,
        default_voice: tuple[str, str] = ("", ""),
        throttle: Callable[[str], Throttle] | None = None,
    ) -> None:
        """``throttle(identity)``: the message-rate check of that user (quotas.py)."""
        self.credentials = credentials
        self.agent_name = agent_name
        self.max_sessions = max_sessions
        self.worker_id = ""
        self.transports: dict[str, LiveKitTransport] = {}  # by job id
        self._run_session = run_session
        self._default_voice = default_voice
        self._throttle = throttle
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._serving: asyncio.Task[None] | None = None
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    async def start(self) -> None:
        self._http = aiohttp.ClientSession()
        try:
            await self._register()
        except BaseException:
            await self._http.close()
            raise
        self._serving = asyncio.create_task(self._serve(), name="livekit-dispatch")

    async def stop(self) -> None:
        self._stopping = True
        if self._serving is not None:
            self._serving.cancel()
        for task in list(self._jobs.values()):
            task.cancel()
        await asyncio.gather(
            *self._jobs.values(), *([self._serving] if self._serving else []),
            return_exceptions=True,
        )  # fmt: skip
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()

    # ------------------------------------------------------------ registration

    async def _register(self) -> None:
        assert self._http is not None
        url = self.credentials.url + "/agent"
        headers = {"Authorization": f"Bearer {self.credentials.agent_token()}"}
        try:
            self._ws = await self._http.ws_connect(url, headers=headers, heartbeat=15)
        except aiohttp.WSServerHandshakeError as exc:
            raise DispatchError(
                f"the LiveKit server at {self.credentials.url} refused the agent "
                f"(HTTP {exc.status}): check livekit.api_key and livekit.api_secret"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise DispatchError(f"cannot reach the LiveKit server at {url}: {exc}") from None
        message = agent.WorkerMessage()
        message.register.type = agent.JT_ROOM
        message.register.agent_name = self.agent_name
        message.register.version = "voicectl"
        message.register.allowed_permissions.CopyFrom(models.ParticipantPermission(
            can_publish=True, can_subscribe=True, can_publish_data=True, agent=True,
        ))  # fmt: skip
        await self._send(message)
        try:
            reply = await asyncio.wait_for(self._receive(), 10)
        except TimeoutError:
            raise DispatchError(
                "the LiveKit server did not answer the agent's registration"
            ) from None
        if reply is None or reply.WhichOneof("message") != "register":
            raise DispatchError("the LiveKit server did not accept the agent's registration")
        self.worker_id = reply.register.worker_id
        log.info("LiveKit agent %s registered on %s (agent_name %r)", self.worker_id,
                 self.credentials.url, self.agent_name)  # fmt: skip

    async def _send(self, message: agent.WorkerMessage) -> None:
        assert self._ws is not None
        await self._ws.send_bytes(message.SerializeToString())

    async def _receive(self) -> agent.ServerMessage | None:
        """The next server message; None once the connection is closed."""
        assert self._ws is not None
        while True:
            frame = await self._ws.receive()
            if frame.type != aiohttp.WSMsgType.BINARY:
                if frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                  aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):  # fmt: skip
                    return None
                continue
            message = agent.ServerMessage()
            message.ParseFromString(frame.data)
            return message

    async def _serve(self) -> None:
        """Answer the server until stopped; register again when the connection drops."""
        attempt = 0
        while not self._stopping:
            status = asyncio.create_task(self._report_status())
            try:
                while (message := await self._receive()) is not None:
                    attempt = 0
                    await self._handle(message)
            finally:
                status.cancel()
            log.warning("the LiveKit server closed the agent's connection; registering again")
            while not self._stopping:
                await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
                attempt += 1
                try:
                    await self._register()
                    break
                except DispatchError as exc:
                    log.warning("%s", exc)

    async def _report_status(self) -> None:
        while True:
            running = len(self._jobs)
            full = running >= self.max_sessions
            update = agent.UpdateWorkerStatus(
                status=agent.WS_FULL if full else agent.WS_AVAILABLE,
                load=min(1.0, running / max(1, self.max_sessions)), job_count=running,
            )  # fmt: skip
            try:
                await self._send(agent.WorkerMessage(update_worker=update))
            except (ConnectionError, RuntimeError):
                return  # the connection dropped: _serve registers again
            await asyncio.sleep(STATUS_INTERVAL_S)

    async def _handle(self, message: agent.ServerMessage) -> None:
        kind = message.WhichOneof("message")
        if kind == "availability":
            job = message.availability.job
            answer = agent.WorkerMessage()
            answer.availability.job_id = job.id
            answer.availability.available = len(self._jobs) < self.max_sessions
            answer.availability.participant_identity = AGENT_IDENTITY_PREFIX + job.id
            answer.availability.participant_name = "voicectl"
            await self._send(answer)
        elif kind == "assignment":
            assignment = message.assignment
            job_id = assignment.job.id
            url = assignment.url or self.credentials.url
            task = asyncio.create_task(self._job(job_id, url, assignment.token), name=job_id)
            self._jobs[job_id] = task
            task.add_done_callback(lambda _: self._jobs.pop(job_id, None))
        elif kind == "termination":
            running = self._jobs.get(message.termination.job_id)
            if running is not None:
                running.cancel()

    # -------------------------------------------------------------------- jobs

    async def _job(self, job_id: str, url: str, token: str) -> None:
        status = agent.JS_SUCCESS
        error = ""
        try:
            await self._job_status(job_id, agent.JS_RUNNING)
            await self._converse(job_id, url, token)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("LiveKit job %s failed", job_id)
            status, error = agent.JS_FAILED, str(exc)[:300]
        await self._job_status(job_id, status, error)

    async def _job_status(self, job_id: str, status: agent.JobStatus, error: str = "") -> None:
        update = agent.UpdateJobStatus(job_id=job_id, status=status, error=error)
        # While registering again this is lost: the server ends jobs of a worker it lost.
        with suppress(ConnectionError, RuntimeError):
            await self._send(agent.WorkerMessage(update_job=update))

    async def _converse(self, job_id: str, url: str, token: str) -> None:
        """Join the room and hold one session per user in turn, until nobody has come for
        USER_TIMEOUT_S. Staying matters: the server dispatches only into new rooms, so a
        user who comes back before an emptied room closes must find the agent there."""
        room = rtc.Room()
        arrivals: asyncio.Queue[rtc.RemoteParticipant] = asyncio.Queue()

        def arrived(participant: rtc.RemoteParticipant) -> None:
            if is_user(participant):
                arrivals.put_nowait(participant)

        room.on("participant_connected", arrived)
        try:
            await room.connect(url, token)
            for participant in room.remote_participants.values():
                arrived(participant)
            while room.isconnected():
                try:
                    user = await asyncio.wait_for(arrivals.get(), USER_TIMEOUT_S)
                except TimeoutError:
                    log.info("LiveKit room %s: nobody came for %g s; leaving", room.name,
                             USER_TIMEOUT_S)  # fmt: skip
                    return
                if user.identity in room.remote_participants:  # not gone while queued
                    await self._session(job_id, room, user)
        finally:
            room.off("participant_connected", arrived)
            if room.isconnected():
                await room.disconnect()

    async def _session(self, job_id: str, room: rtc.Room, user: rtc.RemoteParticipant) -> None:
        """One conversation with ``user``, until the user leaves."""
        settings, problem = self._settings(user)
        throttle = self._throttle(user.identity) if self._throttle else None
        transport = LiveKitTransport(room, user, settings, throttle=throttle)
        self.transports[job_id] = transport
        try:
            await transport.publish()
            if problem is not None:  # the session goes on in the default voice
                transport.send_event(Error(code="bad_field", message=problem))
            await self._run_session(transport, settings)  # its end closes the transport
        finally:
            self.transports.pop(job_id, None)
            await transport.close()  # again is harmless: a failed publish left it open

    def _settings(self, user: rtc.RemoteParticipant) -> tuple[SessionSettings, str | None]:
        """The user's voice from its metadata (``{"model_id": ..., "voice": ...}``, checked
        like a WebSocket ``start``), else the default; and what was wrong with it, if any."""
        asked: object = {}
        if user.metadata:
            try:
                asked = json.loads(user.metadata)
            except ValueError:
                asked = None
        rates = {"input_sample_rate": INPUT_SAMPLE_RATE, "output_sample_rate": OUTPUT_SAMPLE_RATE}
        default = media_settings("lk", **rates, default_voice=self._default_voice)
        if not isinstance(asked, dict):
            return default, 'participant metadata must be JSON {"model_id": ..., "voice": ...}'
        try:
            model_id, voice = asked.get("model_id", ""), asked.get("voice", "")
            chosen = media_settings("lk", **rates, model_id=model_id, voice=voice,
                                    default_voice=self._default_voice)  # fmt: skip
        except EventError as exc:
            return default, f"participant metadata: {exc.message}"
        return chosen, None
