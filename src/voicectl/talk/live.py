"""The live duplex loop of `voicectl talk`: microphone -> [AEC] -> orchestrator -> speaker.

Threads: the device calls ``next_speaker_frame`` on its audio thread, so the speaker queue
is a locked :class:`~voicectl.talk.client.PlaybackBuffer` (same ``clear`` semantics: keep
``played_frames`` of the current reply, drop the rest). Every frame handed to the speaker,
silence included, is also the echo canceller's far end; it is fed before the microphone
frame captured in the same device callback, so the canceller sees the two streams in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from websockets.exceptions import ConnectionClosed

from voicectl.orchestrator import events as ev
from voicectl.talk.aec import EchoCanceller
from voicectl.talk.client import PlaybackBuffer, Received
from voicectl.talk.clients import Client
from voicectl.talk.devices import DuplexDevice

MIC_QUEUE_FRAMES = 50  # 1 s; older microphone frames are dropped if the loop stalls


class SpeakerQueue(PlaybackBuffer):
    """A :class:`PlaybackBuffer` the audio thread can pop from while the loop fills it."""

    def __init__(self, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self._lock = threading.Lock()
        self.frames_played = 0

    def start_reply(self) -> None:
        with self._lock:
            super().start_reply()
            del self.replies[:-1]  # a long conversation keeps only the current reply

    def receive(self, frame: bytes) -> None:
        with self._lock:
            super().receive(frame)

    def clear(self, played_frames: int | None = None) -> None:
        with self._lock:
            super().clear(played_frames)

    def pop_frame(self) -> bytes | None:
        """The next frame to play, or None (nothing queued). Audio thread; never blocks."""
        with self._lock:
            if not self.queue:
                return None
            self.frames_played += 1
            return self.queue.popleft()


@dataclass
class LiveStats:
    mic_frames: int = 0
    mic_frames_dropped: int = 0
    speaker_frames: int = 0
    cleared_frames: int = 0


async def run_live(
    talk: Client,
    device: DuplexDevice,
    *,
    aec: EchoCanceller | None,
    stop: asyncio.Event,
    on_event: Callable[[Received[ev.ServerEvent]], None] | None = None,
) -> LiveStats:
    """Talk through ``device`` until ``stop`` is set or the orchestrator closes the session."""
    rate = device.sample_rate
    if rate != talk.input_sample_rate or rate != talk.output_sample_rate:
        raise ValueError(f"the device runs at {rate} Hz but the session uses "
                         f"{talk.input_sample_rate}/{talk.output_sample_rate} Hz")  # fmt: skip
    if aec is not None and aec.sample_rate != rate:
        raise ValueError(f"the echo canceller runs at {aec.sample_rate} Hz, the device at {rate}")
    speaker = SpeakerQueue(rate)
    talk.playback = speaker  # the client's reader now fills (and clears) this queue
    talk.on_event = on_event
    stats = LiveStats()
    silence = bytes(device.frame_bytes)
    mic: asyncio.Queue[bytes] = asyncio.Queue()

    def next_speaker_frame() -> bytes:
        frame = speaker.pop_frame() or silence
        if aec is not None:
            aec.process_far_end(frame)  # audio thread, in step with the mic frame below
        return frame

    def on_mic_frame(frame: bytes) -> None:
        if mic.qsize() >= MIC_QUEUE_FRAMES:
            mic.get_nowait()
            stats.mic_frames_dropped += 1
        mic.put_nowait(frame)

    async def send_mic() -> None:
        while True:
            frame = await mic.get()  # already echo-cancelled on the audio thread
            stats.mic_frames += 1
            await talk.send_audio(frame)

    if aec is not None:
        device.mic_filter = aec.process_near_end
    device.start(on_mic_frame, next_speaker_frame)
    if aec is not None and device.latency_ms:
        aec.set_delay_ms(device.latency_ms)
    sender = asyncio.create_task(send_mic(), name="talk-mic")
    stopped = asyncio.create_task(stop.wait())
    closed = asyncio.create_task(talk.closed.wait())
    try:
        await asyncio.wait({sender, stopped, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        device.stop()
        for task in (sender, stopped, closed):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(sender, stopped, closed, return_exceptions=True)
    failure = sender.exception() if sender.done() and not sender.cancelled() else None
    if failure is not None and not isinstance(failure, ConnectionClosed):
        raise failure
    stats.speaker_frames = speaker.frames_played
    stats.cleared_frames = speaker.cleared_frames
    return stats
