"""Orchestrator ASR with real tiny.en on recorded human speech: partials, finals, off-loop.

The speech is ../shared/audio/jfk.flac (public domain): a real voice, and the same samples
on every run. Piper's voice samples its noise afresh each time, and tiny.en heard
"Thursday" as "first day" in about one draw in twenty, which failed CI once.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from voicectl.asr.whisper import Transcript, WhisperASR
from voicectl.audio.decode import decode_audio_file
from voicectl.audio.frames import Int16Audio
from voicectl.orchestrator.asr import AsrEngine, UtteranceTranscriber

pytestmark = pytest.mark.slow

JFK = Path(__file__).resolve().parents[2].parent / "shared" / "audio" / "jfk.flac"


@pytest.fixture(scope="module")
def engine() -> Iterator[AsrEngine]:
    asr = AsrEngine.load()
    yield asr
    asr.close()


@pytest.fixture(scope="module")
def speech() -> Int16Audio:
    """The recording at 16 kHz: "And so, my fellow Americans, ask not ... your country."."""
    return decode_audio_file(JFK, sample_rate=16000)


def frames_of(pcm: Int16Audio) -> list[bytes]:
    usable = pcm[: pcm.size - pcm.size % 320]
    return [usable[i : i + 320].tobytes() for i in range(0, usable.size, 320)]


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


async def test_partials_then_final_from_frames(engine: AsrEngine, speech: Int16Audio) -> None:
    transcriber = UtteranceTranscriber(engine=engine, partial_interval_ms=600, preroll_ms=300)
    for frame in frames_of(np.zeros(16000, dtype=np.int16)):
        transcriber.push(frame, in_speech=False)  # pre-roll only
    transcriber.start_utterance()
    assert transcriber.utterance_ms == 300
    partials: list[str] = []
    pending: asyncio.Task[str | None] | None = None
    for frame in frames_of(speech):  # faster than real time, like a session catching up
        transcriber.push(frame, in_speech=True)
        if pending is None or pending.done():
            if pending is not None and (text := pending.result()):
                partials.append(text)
            pending = asyncio.create_task(transcriber.maybe_partial())
        await asyncio.sleep(0.002)
    if pending is not None and (text := await pending):
        partials.append(text)
    assert transcriber.utterance_ms == 300 + len(frames_of(speech)) * 20
    final = await transcriber.finish()
    assert partials, "no partial transcript while speaking"
    assert {"fellow", "americans", "country"} <= words(final), final
    assert transcriber.utterance_ms == 0
    assert not transcriber.active


async def test_frames_outside_speech_do_not_join_the_utterance(engine: AsrEngine) -> None:
    transcriber = UtteranceTranscriber(engine=engine, preroll_ms=100)
    silent = bytes(640)
    for _ in range(20):
        transcriber.push(silent, in_speech=False)
    transcriber.start_utterance()
    assert transcriber.utterance_ms == 100  # pre-roll is bounded
    transcriber.push(silent, in_speech=True)
    transcriber.push(silent, in_speech=False)  # after SPEECH_END, before finish()
    assert transcriber.utterance_ms == 120


async def test_finish_on_a_tiny_utterance_returns_a_string(engine: AsrEngine) -> None:
    transcriber = UtteranceTranscriber(engine=engine, preroll_ms=0)
    assert await transcriber.finish() == ""  # nothing started
    transcriber.start_utterance()
    transcriber.push(bytes(640), in_speech=True)
    transcriber.push(bytes(640), in_speech=True)
    assert isinstance(await transcriber.finish(), str)


async def test_finish_waits_for_a_running_partial(engine: AsrEngine, speech: Int16Audio) -> None:
    transcriber = UtteranceTranscriber(engine=engine, partial_interval_ms=200, preroll_ms=0)
    transcriber.start_utterance()
    for frame in frames_of(speech):
        transcriber.push(frame, in_speech=True)
    partial = asyncio.create_task(transcriber.maybe_partial())
    await asyncio.sleep(0)  # the partial inference is now queued on the engine
    assert await transcriber.maybe_partial() is None  # one partial at a time
    final = await transcriber.finish()
    assert partial.done()
    assert await partial is None  # stale: the utterance was finished meanwhile
    assert {"americans", "country"} <= words(final), final


async def test_cancel_drops_the_utterance(engine: AsrEngine, speech: Int16Audio) -> None:
    transcriber = UtteranceTranscriber(engine=engine)
    transcriber.start_utterance()
    for frame in frames_of(speech)[:50]:
        transcriber.push(frame, in_speech=True)
    transcriber.cancel()
    assert transcriber.utterance_ms == 0
    assert await transcriber.maybe_partial() is None
    assert await transcriber.finish() == ""


async def test_a_continued_utterance_is_heard_with_the_one_before(
    engine: AsrEngine, speech: Int16Audio
) -> None:
    frames = frames_of(speech)
    half = len(frames) // 2
    transcriber = UtteranceTranscriber(engine=engine, preroll_ms=0)
    transcriber.start_utterance(continue_previous=True)  # nothing before it: a new turn
    assert not transcriber.continued
    for frame in frames[:half]:
        transcriber.push(frame, in_speech=True)
    await transcriber.finish()
    transcriber.start_utterance(continue_previous=True)
    assert transcriber.continued
    assert transcriber.utterance_ms == half * 20  # the first part comes first
    for frame in frames[half:]:
        transcriber.push(frame, in_speech=True)
    whole = await transcriber.finish()
    assert not transcriber.continued
    assert {"fellow", "americans", "ask", "country"} <= words(whole), whole


async def test_inference_runs_off_the_event_loop(engine: AsrEngine, speech: Int16Audio) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    text = (await engine.transcribe(np.concatenate([speech, speech]))).text
    during = ticks - before
    stop.set()
    await task
    assert "americans" in words(text)
    assert during >= 5, f"event loop ticked only {during} times during ~1 s of inference"


class CountingASR(WhisperASR):
    """Delegates to the real model; records the peak number of concurrent inferences."""

    def __init__(self, inner: WhisperASR) -> None:
        super().__init__(model=inner._model, model_path=inner.model_path)
        self.active = self.peak = 0
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def transcribe_detailed(
        self, audio: npt.NDArray[np.generic], sample_rate: int, *, fallback: bool = True
    ) -> Transcript:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.threads.add(threading.current_thread().name)
        try:
            return super().transcribe_detailed(audio, sample_rate, fallback=fallback)
        finally:
            with self._lock:
                self.active -= 1


async def test_one_inference_at_a_time(engine: AsrEngine, speech: Int16Audio) -> None:
    asr = CountingASR(engine.asr)
    counting = AsrEngine(asr)
    try:
        texts = await asyncio.gather(*(counting.transcribe(speech[: 16000 * n]) for n in (1, 2, 3)))
    finally:
        counting.close()
    assert all(isinstance(text.text, str) for text in texts)
    assert asr.peak == 1
    assert all(name.startswith("voicectl-asr") for name in asr.threads)


def test_wrong_frame_size_is_rejected(engine: AsrEngine) -> None:
    with pytest.raises(ValueError, match="640 bytes"):
        UtteranceTranscriber(engine=engine).push(bytes(320), in_speech=True)
