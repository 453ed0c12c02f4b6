"""Streaming-ish ASR for the orchestrator: partial transcripts while the user speaks,
a final one at end of turn, on top of the blocking ``WhisperASR``.

Whisper is not a streaming model, so a partial is a re-transcription of the utterance so
far, throttled by ``partial_interval_ms``. One engine (model) is shared by all sessions;
it runs one inference at a time on its own thread so the event loop never blocks and
sessions queue fairly instead of oversubscribing the CPU.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Literal, Self

import numpy as np
import numpy.typing as npt

from voicectl.asr.whisper import ASR_SAMPLE_RATE, Transcript, WhisperASR
from voicectl.audio.frames import FRAME_MS, frame_bytes

ASR_FRAME_BYTES = frame_bytes(ASR_SAMPLE_RATE)  # 640

DecodeKind = Literal["partial", "final"]
# Called after every decode, e.g. to count fallbacks in the session's metrics.
DecodeObserver = Callable[[DecodeKind, Transcript], None]


class AsrEngine:
    """One loaded Whisper model with a single-thread executor for its inferences."""

    def __init__(self, asr: WhisperASR) -> None:
        self.asr = asr
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voicectl-asr")

    @classmethod
    def load(
        cls,
        *,
        model: str | Path | None = None,
        device: str = "cpu",
        compute_type: str = "int8",
    ) -> Self:
        """Load a model (blocking, ~0.3 s for tiny.en); default tiny.en, offline."""
        return cls(WhisperASR.load(model=model, device=device, compute_type=compute_type))

    async def transcribe(
        self, audio16k: npt.NDArray[np.int16], *, fallback: bool = True
    ) -> Transcript:
        """Mono 16 kHz int16 audio decoded, queued behind any running inference.

        ``fallback=False`` (partials) drops a decode that trips a loop guard instead of
        redoing it on the slower stock path, which would hold up the final transcript.
        """
        loop = asyncio.get_running_loop()
        decode = partial(self.asr.transcribe_detailed, audio16k, ASR_SAMPLE_RATE, fallback=fallback)
        return await loop.run_in_executor(self._executor, decode)

    def close(self) -> None:
        """Stop accepting work; a running inference finishes in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class UtteranceTranscriber:
    """Per-session utterance buffer: pre-roll while silent, partials while speaking, a final.

    Frames pushed before ``start_utterance`` land in the pre-roll (so the session may push
    the frame that triggered SPEECH_START before or after calling it). Frames pushed with
    ``in_speech=False`` never join an utterance: after SPEECH_END they feed the next pre-roll.
    """

    def __init__(
        self,
        *,
        engine: AsrEngine,
        partial_interval_ms: int = 600,
        preroll_ms: int = 300,
        on_decode: DecodeObserver | None = None,
    ) -> None:
        if partial_interval_ms < FRAME_MS:
            raise ValueError(
                f"partial_interval_ms must be >= {FRAME_MS}, got {partial_interval_ms}"
            )
        if preroll_ms < 0:
            raise ValueError(f"preroll_ms must be >= 0, got {preroll_ms}")
        self._engine = engine
        self._on_decode = on_decode
        self.partial_interval_ms = partial_interval_ms
        self._preroll: deque[bytes] = deque(maxlen=preroll_ms // FRAME_MS)
        self._frames: list[bytes] = []
        self._active = False
        self._generation = 0  # bumped by finish/cancel: stale partials are dropped
        self._next_partial_ms = partial_interval_ms
        self._partial: asyncio.Future[str] | None = None
        self._speculation: asyncio.Future[str] | None = None
        self.last_partial: str | None = None
        self._previous: list[bytes] = []  # the last finished utterance, for a continuation
        self.continued = False  # this utterance carries on the previous one

    @property
    def active(self) -> bool:
        return self._active

    @property
    def utterance_ms(self) -> int:
        return len(self._frames) * FRAME_MS

    def push(self, frame16k: bytes, *, in_speech: bool) -> None:
        if len(frame16k) != ASR_FRAME_BYTES:
            raise ValueError(
                f"ASR frame must be {ASR_FRAME_BYTES} bytes (20 ms PCM16 at 16 kHz), "
                f"got {len(frame16k)}"
            )
        if self._active and in_speech:
            self._frames.append(frame16k)
        elif self._preroll.maxlen:
            self._preroll.append(frame16k)

    def start_utterance(self, *, continue_previous: bool = False) -> None:
        """At SPEECH_START: the utterance begins with the pre-roll (onset not clipped).

        ``continue_previous``: the user carries on the turn that just ended, so the last
        finished utterance comes first and both are transcribed as one."""
        if self._active:
            return
        self._reset()
        self._active = True
        self.continued = continue_previous and bool(self._previous)
        if self.continued:
            self._frames.extend(self._previous)
        self._frames.extend(self._preroll)
        self._preroll.clear()

    async def maybe_partial(self) -> str | None:
        """A new partial after every ``partial_interval_ms`` of audio, else None.

        None too when a partial is already running, the text is empty or unchanged, or the
        utterance was finished/cancelled meanwhile.
        """
        if not self._active or self._partial is not None:
            return None
        if self.utterance_ms < self._next_partial_ms:
            return None
        self._next_partial_ms = self.utterance_ms + self.partial_interval_ms
        generation = self._generation
        partial = asyncio.ensure_future(self._decode("partial"))
        self._partial = partial
        try:
            # Shielded: if our caller is cancelled, finish() can still wait for the inference.
            text = await asyncio.shield(partial)
        finally:
            if self._partial is partial:
                self._partial = None
        if generation != self._generation or not text or text == self.last_partial:
            return None
        self.last_partial = text
        return text

    def speculate(self) -> None:
        """Start the final transcript early, at a tentative end of speech.

        The session calls this after a short run of silent frames, well before the VAD
        hangover confirms the end of the turn. If no speech follows, ``finish`` returns
        this result instead of transcribing again: the hangover hides the ASR latency.
        """
        if not self._active or self._speculation is not None:
            return
        self._speculation = asyncio.ensure_future(self._decode("final"))

    @property
    def speculation(self) -> asyncio.Future[str] | None:
        """The early final transcript in flight (or done), if one was started."""
        return self._speculation

    def drop_speculation(self) -> None:
        """Speech resumed after a tentative end: the early transcript is stale."""
        self._speculation = None

    async def finish(self) -> str:
        """Final transcript of the utterance so far; the transcriber is then ready for the
        next one. Waits for a running partial first (the engine runs one at a time)."""
        audio = self._audio()
        partial = self._partial
        speculation = self._speculation
        self._previous = self._frames
        self._reset()
        if speculation is not None:
            return await speculation
        if partial is not None and not partial.done():
            await asyncio.wait([partial])
        if audio.size == 0:
            return ""
        return await self._decode("final", audio)

    def cancel(self) -> None:
        """Drop the utterance (e.g. barge-in turned out to be noise); no transcript."""
        self._reset()

    async def _decode(self, kind: DecodeKind, audio: npt.NDArray[np.int16] | None = None) -> str:
        audio = self._audio() if audio is None else audio
        transcript = await self._engine.transcribe(audio, fallback=kind == "final")
        if self._on_decode is not None:
            self._on_decode(kind, transcript)
        return transcript.text.strip()

    def _audio(self) -> npt.NDArray[np.int16]:
        return np.frombuffer(b"".join(self._frames), dtype="<i2").astype(np.int16)

    def _reset(self) -> None:
        self._generation += 1
        self._active = False
        self._frames = []
        self._next_partial_ms = self.partial_interval_ms
        self._partial = None
        self._speculation = None
        self.last_partial = None
        self.continued = False
