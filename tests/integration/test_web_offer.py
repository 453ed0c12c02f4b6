"""The ``--web`` endpoint with real sockets: the page, the offer's boundaries, and a
real aiortc peer standing in for the browser (the Chromium test is tests/e2e)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from tests.conftest import OrchestratorFactory
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.quotas import ClientLimits
from voicectl.orchestrator.server import Orchestrator
from voicectl.talk.client import HandshakeRefused
from voicectl.talk.rtc_client import RtcTalkClient
from voicectl.worker.server import Worker

TOKEN = "web-test-token-0123456789"


Factory = Callable[..., Awaitable[Orchestrator]]


@pytest.fixture
def web(make_orchestrator: OrchestratorFactory, mock_worker: Worker) -> Factory:
    """Orchestrators (conftest's) in front of the mock worker, with the page on."""

    async def factory(**overrides: Any) -> Orchestrator:
        return await make_orchestrator(mock_worker.address, web="127.0.0.1:0", **overrides)

    return factory


def base(orchestrator: Orchestrator) -> str:
    assert orchestrator.web is not None
    return orchestrator.web.address


async def post_offer(url: str, body: object, **headers: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        data = body if isinstance(body, str) else json.dumps(body)
        async with http.post(url + "/api/offer", data=data, headers=headers) as res:
            return res.status, await res.json()


class Peer:
    """What the page does, in Python: a microphone track, the ``events`` channel, an
    offer; then it keeps the events and the reply frames it hears."""

    def __init__(self, microphone: MediaStreamTrack | None = None) -> None:
        self.pc = RTCPeerConnection()
        self.pc.addTrack(microphone or AudioStreamTrack())  # silence, like a quiet room
        self.channel = self.pc.createDataChannel("events")
        self.events: list[dict[str, Any]] = []
        self.loud_frames = 0
        self.opened = asyncio.Event()
        self.channel.on("open", self.opened.set)
        self.channel.on("message", lambda m: self.events.append(json.loads(m)))
        self.pc.on("track", self._on_track)
        self._reader: asyncio.Task[None] | None = None

    def _on_track(self, track: MediaStreamTrack) -> None:
        async def read() -> None:
            while True:
                frame = await track.recv()
                pcm = frame.to_ndarray()  # type: ignore[union-attr]
                if np.abs(pcm).max() > 300:
                    self.loud_frames += 1

        self._reader = asyncio.create_task(read())

    async def connect(self, url: str, **headers: str) -> dict[str, Any]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = {"type": "offer", "sdp": self.pc.localDescription.sdp}
        status, answer = await post_offer(url, offer, **headers)
        assert status == 200, answer
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await asyncio.wait_for(self.opened.wait(), 10)
        return answer

    async def wait_for(self, kind: str, timeout: float = 20) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if event["type"] == kind:
                        return event
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.pc.close()


async def test_the_page_and_health_are_served(web: Factory) -> None:
    url = base(await web())
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/") as res:
            assert res.status == 200
            assert "text/html" in res.headers["Content-Type"]
            page = await res.text()
            assert "app.js" in page
            assert "webrtc.js" in page
        async with http.get(url + "/webrtc.js") as res:
            assert res.status == 200
            assert "api/offer" in await res.text()
        async with http.get(url + "/livekit") as res:  # the same page, the LiveKit transport
            page = await res.text()
            assert "livekit.js" in page
            assert "webrtc.js" not in page
        async with http.get(url + "/livekit.js") as res:
            assert "api/connection-details" in await res.text()
        async with http.get(url + "/healthz") as res:
            assert await res.text() == "ok\n"


@pytest.mark.parametrize(
    ("body", "code", "names"),
    [
        ("{not json", "bad_json", "offer"),
        ([1, 2], "bad_offer", "JSON object"),
        ({"type": "answer", "sdp": "v=0"}, "bad_offer", "type"),
        ({"type": "offer"}, "bad_offer", "sdp"),
        ({"type": "offer", "sdp": "v=0\r\nthis is no offer"}, "bad_offer", "SDP offer"),
        ({"type": "offer", "sdp": "v=0\r\n", "voice": 5}, "bad_field", "voice"),
    ],
)
async def test_a_bad_offer_is_refused_naming_the_field(
    web: Factory, body: object, code: str, names: str
) -> None:
    orchestrator = await web()
    status, answer = await post_offer(base(orchestrator), body)
    assert status == 400
    assert answer["code"] == code
    assert names in answer["message"]
    assert orchestrator.sessions == {}  # nothing was started


async def test_an_oversized_offer_is_refused(web: Factory) -> None:
    big = {"type": "offer", "sdp": "v=0" + "x" * 70_000}
    status, answer = await post_offer(base(await web()), big)
    assert (status, answer["code"]) == (413, "too_large")
    assert "65536 bytes" in answer["message"]


async def test_tokens_and_origins_are_checked_like_the_websocket(web: Factory) -> None:
    url = base(await web(auth_tokens=(TOKEN,)))
    offer = {"type": "offer", "sdp": "v=0\r\n"}
    status, answer = await post_offer(url, offer)
    assert (status, answer["code"]) == (401, "refused")
    status, _ = await post_offer(url, offer, Authorization="Bearer wrong-token-0123456789")
    assert status == 401
    status, answer = await post_offer(
        url, offer, Authorization=f"Bearer {TOKEN}", Origin="https://evil.example"
    )
    assert status == 403
    assert "auth.allowed_origins" in answer["message"]
    peer = Peer()
    try:
        answer = await peer.connect(url, Authorization=f"Bearer {TOKEN}")
        assert answer["session_id"].startswith("rtc-")
    finally:
        await peer.close()


async def test_a_text_turn_is_answered_with_audio_on_the_reply_track(web: Factory) -> None:
    orchestrator = await web()
    peer = Peer()
    try:
        await peer.connect(base(orchestrator))
        started = await peer.wait_for("started")
        assert started["output_sample_rate"] == 48000
        peer.channel.send(json.dumps({"type": "text", "text": "Hello over WebRTC."}))
        await peer.wait_for("reply.done")
        assert peer.loud_frames >= 10, "the reply was heard on the track"
        said = "".join(e["text"] for e in peer.events if e["type"] == "reply.text")
        assert "Hello over WebRTC" in said
    finally:
        await peer.close()
    async with asyncio.timeout(10):  # the session ends with the peer connection
        while orchestrator.sessions:  # noqa: ASYNC110 - polling a plain dict
            await asyncio.sleep(0.05)


async def test_bad_messages_get_errors_and_a_flood_hangs_up(web: Factory) -> None:
    orchestrator = await web()
    peer = Peer()
    try:
        await peer.connect(base(orchestrator))
        await peer.wait_for("started")
        peer.channel.send("{nope")
        peer.channel.send(json.dumps({"type": "text", "text": ""}))
        peer.channel.send(b"\x00\x01")
        error = await peer.wait_for("error")
        assert error["code"] == "bad_json"
        codes = set()
        async with asyncio.timeout(10):
            while len(codes) < 3:
                codes = {e["code"] for e in peer.events if e["type"] == "error"}
                await asyncio.sleep(0.02)
        assert codes == {"bad_json", "bad_field", "bad_frame"}
        for _ in range(300):  # past BAD_MESSAGES_CLOSE in one second
            peer.channel.send("{nope")
        async with asyncio.timeout(10):
            while orchestrator.sessions or peer.pc.connectionState != "closed":  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        await peer.close()


async def test_the_session_quota_counts_browser_sessions(web: Factory) -> None:
    orchestrator = await web(client_limits=ClientLimits(sessions=1))
    first, second = Peer(), Peer()
    try:
        await first.connect(base(orchestrator))
        await second.pc.setLocalDescription(await second.pc.createOffer())
        offer = {"type": "offer", "sdp": second.pc.localDescription.sdp}
        status, answer = await post_offer(base(orchestrator), offer)
        assert (status, answer["code"]) == (429, "busy")
    finally:
        await first.close()
        await second.close()


async def test_the_python_client_talks_like_the_page(web: Factory) -> None:
    """RtcTalkClient (talk --url http://..., the WebRTC benches) against the endpoint."""
    orchestrator = await web(auth_tokens=(TOKEN,))
    with pytest.raises(HandshakeRefused) as refused:
        async with RtcTalkClient(base(orchestrator), token="not-the-token-0123456789"):
            pass
    assert refused.value.status == 401
    async with RtcTalkClient(base(orchestrator), token=TOKEN, output_sample_rate=16000) as talk:
        assert talk.session_id.startswith("rtc-")
        await talk.send_text("Hello from Python.")
        await talk.wait_for(ev.ReplyDone, timeout=20)
        await asyncio.sleep(0.3)  # the reply's last frames are still on the way
        assert talk.audio_frames >= 10
        assert all(len(frame) == 640 for frame in talk.playback.reply)  # 20 ms at 16 kHz
        assert any(sound for _, sound in talk.heard)
