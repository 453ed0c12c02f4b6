"""The LiveKit path in a real headless Chromium: the page at /livekit (LiveKit's
browser SDK from npm) asks the orchestrator for a room and a token, joins it on a real
livekit-server, and the orchestrator, dispatched into the room as its agent, answers.
The conversation and its checks are the built-in page's (test_webrtc_page.py): jfk.flac
as the fake microphone, the answer heard in the page, the barge-in, the next answer
whole; screenshots in test-artifacts/livekit-page*.png."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.test_webrtc_page import check_conversation, converse
from tests.livekit_server import LiveKitServer
from voicectl.app import build_orchestrator
from voicectl.orchestrator.asr import AsrEngine
from voicectl.orchestrator.config import LiveKitSettings, OrchestratorConfig
from voicectl.orchestrator.server import Orchestrator
from voicectl.orchestrator.web import NPM_HINT, livekit_client_js

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def livekit_stack(
    asr_engine: AsrEngine, livekit: LiveKitServer
) -> AsyncIterator[Orchestrator]:
    """The embedded stack (Piper), the LiveKit server's agent, with the pages on."""
    if livekit_client_js() is None:
        pytest.skip(f"livekit-client (npm) is not installed: {NPM_HINT}")
    lk = LiveKitSettings(url=livekit.url, api_key=livekit.api_key, api_secret=livekit.api_secret)
    orchestrator = build_orchestrator(
        OrchestratorConfig(ws_port=0, web="127.0.0.1:0", livekit=lk), asr=asr_engine
    )
    await orchestrator.start()
    yield orchestrator
    await orchestrator.stop()


async def test_a_spoken_conversation_with_barge_in_through_livekit(
    livekit_stack: Orchestrator, tmp_path: Path
) -> None:
    record = await converse(livekit_stack, tmp_path, "/livekit", "livekit-page")
    check_conversation(record, "livekit-page")
