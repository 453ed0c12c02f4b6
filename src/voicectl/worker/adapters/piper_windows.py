"""Decode a Piper sentence a window at a time: first audio no longer waits for the sentence.

``decode_windows`` (pure) plans the windows: a short first one, which the head graph
(``piper_split``) decodes in the same call that computes the sentence's latent, so
first audio costs the front of the graph plus a few frames of decoder; then windows
that grow, so few calls pay the context overhead, each ready long before the audio
before it has played. ``WindowedVoice`` runs the plan and stands in for
``PiperVoice.session``, so Piper's own ``synthesize`` (the stock path) runs on the
same sessions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from voicectl.audio.frames import FloatAudio
from voicectl.worker.adapters.piper_split import HEAD_FRAMES_INPUT

CONTEXT_FRAMES = 12  # latent frames each side: the decoder's receptive field (10 is exact to 2e-6)
FIRST_WINDOW_FRAMES = 8  # ~93 ms of audio at 22.05 kHz (256 samples a frame): soxr HQ
# holds ~35 ms back when the worker resamples, the rest is 2-3 frames before the next window
WINDOW_GROWTH = 3


@dataclass(frozen=True, kw_only=True)
class Window:
    """Frames ``start:end`` of a sentence, decoded from ``context_start:context_end``."""

    start: int
    end: int
    context_start: int
    context_end: int


HEAD_FRAMES = FIRST_WINDOW_FRAMES + CONTEXT_FRAMES  # the head graph decodes this many, idle
# The first window when the other streams and this one fill the cores (~0.37 s), and when
# there are twice as many (~0.74 s).
BUSY_FIRST_FRAMES = 32
MAX_FIRST_FRAMES = 64


def first_window_frames(competing: int, cores: int) -> int:
    """How long the first window is, given the other streams whose jobs may run first.
    Its audio must outlast the wait for the next window: with a core to spare for every
    stream that job starts at once; once the others and this one fill the cores it may
    wait behind a long window of another stream (~0.1 s on one core), and more streams
    may arrive meanwhile, so the first window plays ~0.37 s (~0.74 s with twice as many
    streams as cores). Looser rules failed on
    `bench load --sessions 16`: 8 frames up to one stream per core underran at the 3rd
    frame (2-4 per 30 s), a window sized to the number of streams at the 8th (5)."""
    cores = max(1, cores)
    if competing + 1 < cores:
        return FIRST_WINDOW_FRAMES
    return BUSY_FIRST_FRAMES if competing + 1 < 2 * cores else MAX_FIRST_FRAMES


def decode_windows(
    frames: int,
    *,
    first: int = FIRST_WINDOW_FRAMES,
    context: int = CONTEXT_FRAMES,
    growth: int = WINDOW_GROWTH,
) -> list[Window]:
    """Windows covering ``0:frames`` in order: the first ``first`` long (the whole sentence
    if that is little more), then each ``growth`` times the last; a rest shorter than the
    next window joins the last."""
    if first < 1 or growth < 1 or context < 0:
        raise ValueError(f"need first >= 1, growth >= 1, context >= 0; got {first}, {growth}, "
                         f"{context}")  # fmt: skip
    if frames <= first + context:
        return whole(frames)
    windows: list[Window] = []
    start, size = 0, first
    while start < frames:
        end = min(frames, start + size)
        if windows and frames - end < size * growth:  # a short rest: take it now
            end = frames
        windows.append(
            Window(
                start=start,
                end=end,
                context_start=max(0, start - context),
                context_end=min(frames, end + context),
            )
        )
        start, size = end, size * growth
    return windows


def whole(frames: int) -> list[Window]:
    """One window: the whole sentence in one decoder call (the cheapest under load)."""
    return [Window(start=0, end=frames, context_start=0, context_end=frames)]


class WindowedVoice:
    """The head and decoder sessions of one split Piper voice."""

    def __init__(self, *, head: Any, decoder: Any, latent: str) -> None:
        self.head = head
        self.decoder = decoder
        self.latent_name = latent
        self.hop = 0  # samples per latent frame; measured by ``calibrate_hop``

    def start(self, inputs: dict[str, Any], head_frames: int) -> tuple[FloatAudio, FloatAudio]:
        """One sentence's latent (1, channels, frames) and the audio of its first
        ``head_frames`` (exact for the first ``head_frames - CONTEXT_FRAMES``, or for
        all of it if the sentence is no longer)."""
        frames = np.array([head_frames], dtype=np.int64)
        audio, latent = self.head.run(None, {**inputs, HEAD_FRAMES_INPUT: frames})
        return latent, np.asarray(audio, dtype=np.float32).reshape(-1)

    def decode(self, latent: FloatAudio, window: Window) -> FloatAudio:
        """The audio of ``window``: decoded with its context, the context cut off."""
        piece = latent[:, :, window.context_start : window.context_end]
        audio = np.asarray(self.decoder.run(None, {self.latent_name: piece})[0]).reshape(-1)
        return self.cut(audio, window)

    def cut(self, audio: FloatAudio, window: Window) -> FloatAudio:
        """``window``'s samples out of audio decoded from its context."""
        offset = (window.start - window.context_start) * self.hop
        size = (window.end - window.start) * self.hop
        return audio[offset : offset + size].astype(np.float32, copy=False)

    def windows(
        self, inputs: dict[str, Any], *, first: int = FIRST_WINDOW_FRAMES
    ) -> Iterator[tuple[FloatAudio, bool]]:
        """A sentence's audio, window by window, each with True if it is the last. The
        first window (``first`` frames) comes with the latent."""
        latent, head = self.start(inputs, first + CONTEXT_FRAMES)
        plan = decode_windows(latent.shape[2], first=first)
        yield self.cut(head, plan[0]), len(plan) == 1
        for index, window in enumerate(plan[1:], start=2):
            yield self.decode(latent, window), index == len(plan)

    def calibrate_hop(self, inputs: dict[str, Any]) -> int:
        latent, head = self.start(inputs, HEAD_FRAMES)
        frames = min(latent.shape[2], HEAD_FRAMES)
        if frames < 1 or head.size % frames:
            raise ValueError(f"the decoder gave {head.size} samples for {frames} latent frames")
        self.hop = head.size // frames
        return self.hop

    def run(self, output_names: Sequence[str] | None, inputs: dict[str, Any]) -> list[Any]:
        """``PiperVoice.session.run``: the whole graph's audio (the latent, the decoder)."""
        latent, _ = self.start(inputs, 1)
        return list(self.decoder.run(output_names, {self.latent_name: latent}))
