"""The shorter receive buffer gives the session the same audio as aiortc's own, sooner.

A real aiortc peer sends a person's speech (jfk.flac) as Opus over loopback to a
WebRTCTransport, once with aiortc's stock buffer (decode after 4 later packets) and
once with ours (after 1). The session must get the same 16 kHz frames, byte for byte.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from pathlib import Path

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection

from voicectl.audio.decode import decode_audio_file
from voicectl.orchestrator.transport import AudioIn, SessionSettings
from voicectl.orchestrator.transports.webrtc import WebRTCTransport

JFK = Path(__file__).resolve().parents[2].parent / "shared" / "audio" / "jfk.flac"
RATE = 48000
SAMPLES = 960  # 20 ms


class SpeechTrack(MediaStreamTrack):
    """A microphone that says ``pcm`` once, in real time, then stays silent."""

    kind = "audio"

    def __init__(self, pcm: np.ndarray) -> None:
        super().__init__()
        self._pcm = pcm
        self._index = 0
        self._start: float | None = None
        self.first_sound: int | None = None  # index of the frame its first sound was in
        self.sent = 0  # frames handed to the encoder

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        await asyncio.sleep(max(0.0, self._start + self._index * 0.02 - time.monotonic()))
        chunk = self._pcm[self._index * SAMPLES : (self._index + 1) * SAMPLES]
        chunk = np.pad(chunk, (0, SAMPLES - len(chunk)))
        if self.first_sound is None and np.abs(chunk).max() > 0:
            self.first_sound = self._index
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._index * SAMPLES
        frame.time_base = fractions.Fraction(1, RATE)
        self._index += 1
        self.sent = self._index
        return frame


async def received(prefetch: int | None, speech: np.ndarray) -> tuple[list[bytes], int]:
    """The session's frames from the first sound on, and how many frames the microphone
    had sent after the one with that sound when the sound reached the session."""
    server, client = RTCPeerConnection(), RTCPeerConnection()
    settings = SessionSettings(session_id="t", input_sample_rate=16000, output_sample_rate=48000)
    transport = WebRTCTransport(server, settings, receive_prefetch=prefetch)
    lead = np.zeros(RATE // 2, dtype=np.int16)  # the track runs before the sound starts
    mic = SpeechTrack(np.concatenate([lead, speech, np.zeros(RATE, dtype=np.int16)]))
    client.addTrack(mic)
    client.createDataChannel("events")
    await client.setLocalDescription(await client.createOffer())
    await server.setRemoteDescription(client.localDescription)
    await server.setLocalDescription(await server.createAnswer())
    await client.setRemoteDescription(server.localDescription)
    frames: list[bytes] = []
    lag = -1
    want = len(speech) // 3 // 320  # the speech's length in 16 kHz frames
    try:
        async with asyncio.timeout(30):
            async for message in transport.incoming():
                if not isinstance(message, AudioIn):
                    continue
                if not frames and not any(message.pcm):
                    continue  # silence before the first sound
                if not frames:
                    assert mic.first_sound is not None
                    lag = mic.sent - 1 - mic.first_sound
                frames.append(message.pcm)
                if len(frames) >= want:
                    break
    finally:
        await client.close()
        await transport.close()
    return frames, lag


async def test_the_short_buffer_hears_the_same_speech_sooner() -> None:
    speech = decode_audio_file(JFK, sample_rate=RATE)[: RATE * 3]
    stock, stock_lag = await received(None, speech)
    short, short_lag = await received(1, speech)
    assert len(stock) == len(short) == len(speech) // 3 // 320
    assert stock == short, "the same Opus packets decode to the same frames"
    # aiortc's buffer cannot let a packet out before 4 later ones are in.
    assert stock_lag >= 4
    assert short_lag < stock_lag, (stock_lag, short_lag)
    print(f"frames sent after the first sound when it arrived: {stock_lag} -> {short_lag}")
