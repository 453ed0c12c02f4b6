"""The built-in page in a real headless Chromium, over WebRTC to a real orchestrator
(aiortc), an embedded Piper worker and tiny.en; the user is a recorded human voice.

One conversation, as a person would have it: the fake microphone plays jfk.flac (the
question), the agent answers, the microphone speaks over the answer (barge-in), the
answer stops in the page, and the interruption becomes the next turn, whose answer
plays to the end. Everything is measured in the page, with WebAudio, on one clock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.e2e.browser import artifact, chromium
from voicectl.app import build_orchestrator
from voicectl.asr.wer import word_error_rate
from voicectl.audio.decode import decode_audio_file
from voicectl.audio.wav import write_wav
from voicectl.bench.page_trace import SOUND_RMS, WINDOW_S, heard, silent_from, sound_onset
from voicectl.orchestrator.asr import AsrEngine
from voicectl.orchestrator.config import OrchestratorConfig
from voicectl.orchestrator.server import Orchestrator

pytestmark = pytest.mark.slow
JFK = Path(__file__).resolve().parents[2].parent / "shared" / "audio" / "jfk.flac"
JFK_SAID = (
    "and so my fellow americans ask not what your country can do for you "
    "ask what you can do for your country"
)
RATE = 48000
LEAD_S = 1.0
INTERRUPT_AFTER_S = 3.5  # after the question ends: the answer (about 6 s) is playing
INTERRUPTION_S = 3.0  # "And so, my fellow Americans": outlasts the 400 ms confirm window


def microphone(path: Path) -> tuple[float, float]:
    """Write the fake microphone's WAV; return when the question ends and the
    interruption starts, in seconds from the start of capture."""
    jfk = decode_audio_file(JFK, sample_rate=RATE)
    silence = np.zeros(int(RATE * LEAD_S), dtype=np.int16)
    gap = np.zeros(int(RATE * INTERRUPT_AFTER_S), dtype=np.int16)
    tail = np.zeros(RATE * 30, dtype=np.int16)
    interruption = jfk[: int(RATE * INTERRUPTION_S)]
    audio = np.concatenate([silence, jfk, gap, interruption, tail])
    write_wav(path, audio.tobytes(), RATE)
    question_end = LEAD_S + len(jfk) / RATE
    return question_end, question_end + INTERRUPT_AFTER_S


@pytest.fixture(scope="module")
async def web_stack(asr_engine: AsrEngine) -> AsyncIterator[Orchestrator]:
    """The embedded stack (Piper) with the page on a free port."""
    orchestrator = build_orchestrator(
        OrchestratorConfig(ws_port=0, web="127.0.0.1:0"), asr=asr_engine
    )
    await orchestrator.start()
    yield orchestrator
    await orchestrator.stop()


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


async def converse(
    orchestrator: Orchestrator, tmp_path: Path, page_path: str = "/", name: str = "webrtc-page"
) -> dict[str, Any]:
    """Run the conversation in the page at ``page_path``; return what the page recorded.
    Screenshots and the record go to test-artifacts/``name``*."""
    assert orchestrator.web is not None
    wav = tmp_path / "microphone.wav"
    microphone(wav)
    async with chromium(wav) as browser:
        page = await browser.new_page()
        await page.goto(orchestrator.web.address + page_path + "?autostart=1")
        during = False  # the screenshot while the conversation is on
        async with asyncio.timeout(90):
            while True:
                kinds = await page.evaluate("window.voicectl.events.map(e => e.type)")
                starts = [i for i, k in enumerate(kinds) if k == "reply.started"]
                if len(starts) >= 2 and "reply.done" in kinds[starts[-1] :]:
                    break
                if not during and "reply.stopped" in kinds:
                    await page.screenshot(path=artifact(f"{name}-barge-in.png"))
                    during = True
                await asyncio.sleep(0.25)
        await asyncio.sleep(0.5)  # the last reply's tail reaches the trace
        await page.screenshot(path=artifact(f"{name}.png"), full_page=True)
        record: dict[str, Any] = await page.evaluate(
            "async () => ({events: voicectl.events, mic: voicectl.levels.mic, "
            "reply: voicectl.levels.reply, receiver: await voicectl.receiverStats(), "
            "reply_state: document.getElementById('reply-state').textContent, "
            "log: document.getElementById('log').innerText})"
        )
    # Everything the page saw, for whoever reads a failure.
    artifact(f"{name}-record.json").write_text(json.dumps(record))
    return record


async def test_a_spoken_conversation_with_barge_in_in_chromium(
    web_stack: Orchestrator, tmp_path: Path
) -> None:
    check_conversation(await converse(web_stack, tmp_path), "webrtc-page")


def check_conversation(record: dict[str, Any], name: str) -> None:
    """What a person would have had: understood, answered, stopped, answered again."""
    events, mic, reply = record["events"], record["mic"], record["reply"]

    # The question, spoken by a person, is understood.
    finals = of_type(events, "transcript.final")
    assert finals, events
    first_turn = next(e for e in finals if "country" in e["text"].lower())
    assert word_error_rate(JFK_SAID, first_turn["text"]) <= 0.15, first_turn["text"]
    assert of_type(events, "transcript.partial"), "partials arrive while the user speaks"

    # The first answer is heard in the page, then the interruption stops it there.
    answer = next(e["t"] for e in of_type(events, "reply.started") if e["t"] > first_turn["t"])
    stopped = next(e["t"] for e in of_type(events, "reply.stopped") if e["t"] > answer)
    first = heard(reply, answer, stopped)
    assert first.sounding_s >= 0.5, "the answer played before the interruption"
    onset = sound_onset(mic, after=answer + 0.3)
    assert onset is not None
    assert onset < stopped
    silence = silent_from(reply, after=onset)
    assert silence is not None, "the answer never went quiet"
    assert silence < onset + 1.0, "the answer went quiet while the user still spoke"
    assert of_type(events, "clear"), "the page was told to drop what it buffered"

    # The interruption is the next turn, and its answer plays whole, without holes.
    second_turn = finals[-1]
    assert "fellow" in second_turn["text"].lower(), second_turn["text"]
    next_answer = of_type(events, "reply.started")[-1]["t"]
    done = next(e["t"] for e in of_type(events, "reply.done") if e["t"] > next_answer)
    last = heard(reply, next_answer, done + 0.5)
    assert last.sounding_s >= 1.0, last
    assert last.longest_hole_s <= 0.06, f"a playback gap of {last.longest_hole_s * 1000:.0f} ms"
    receiver = record["receiver"]
    invented = receiver["concealedSamples"] - receiver["silentConcealedSamples"]
    assert invented <= 0.01 * receiver["totalSamplesReceived"], receiver

    # The page shows it: both turns in the transcript, the agent idle again.
    assert "you: " in record["log"]
    assert "agent: You said:" in record["log"]
    assert record["reply_state"] == "agent idle"
    spoken = [w[0] for w in mic if w[1] >= SOUND_RMS and w[0] < next_answer]
    summary = {
        "voice_to_voice_ms": round((last.first_sound_s - spoken[-1] - WINDOW_S) * 1000),
        "first_audio_after_reply_started_ms": round((last.first_sound_s - next_answer) * 1000),
        "barge_in_onset_to_silence_ms": round((silence - onset) * 1000),
        "longest_hole_ms": round(last.longest_hole_s * 1000),
        "receiver": receiver,
    }
    artifact(f"{name}.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
