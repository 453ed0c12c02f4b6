"""Recorded-speech scenarios: user turns with timing, overlaps and noise, rendered to audio.

A scenario file (YAML) lists events on one timeline:

    sample_rate: 16000
    events:
      - {at: 0.0, say: "What is the weather like today?"}
      - {at: 4.0, noise_ms: 120}            # a cough-like burst
      - {at: 6.5, say: "Stop, wait a moment."}
      - {at: 9.0, play: recordings/jfk.flac}  # a real recording, mixed in at 9 s

``say:`` is rendered with espeak-ng (a different voice from the agent's), so the same
file always gives the same audio. ``play:`` mixes in a recording (any format ffmpeg
decodes, resampled and mixed down to mono; the path is relative to the scenario file's
folder), so real voices can overlap synthetic ones. The timeline is replayed through a
real orchestrator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from voicectl.audio.decode import AudioDecodeError, decode_audio_file
from voicectl.audio.frames import Int16Audio, samples_per_frame
from voicectl.talk.user_audio import UserAudioError, noise, speak


class ScenarioError(UserAudioError):
    """A scenario file is malformed, a ``play:`` file cannot be decoded, or espeak-ng is missing."""


@dataclass(frozen=True)
class Speech:
    at: float
    text: str


@dataclass(frozen=True)
class Noise:
    at: float
    ms: int
    level: float = 0.3


@dataclass(frozen=True, eq=False)
class Play:
    """A recording, decoded when the scenario loads so a bad file fails before any run."""

    at: float
    path: Path
    audio: Int16Audio  # at the scenario's sample rate


Event = Speech | Noise | Play


@dataclass(frozen=True)
class Scenario:
    sample_rate: int
    events: tuple[Event, ...]
    tail_s: float = 2.0


def render(scenario: Scenario) -> Int16Audio:
    """The whole input timeline; overlapping events are mixed."""
    rate = scenario.sample_rate
    pieces: list[tuple[int, Int16Audio]] = []
    for event in scenario.events:
        if isinstance(event, Speech):
            clip = speak(event.text, sample_rate=rate)
        elif isinstance(event, Play):
            clip = event.audio
        else:
            clip = noise(event.ms, level=event.level, sample_rate=rate)
        pieces.append((int(event.at * rate), clip))
    end = max((start + clip.size for start, clip in pieces), default=0)
    total = end + int(scenario.tail_s * rate)
    total += (-total) % samples_per_frame(rate)
    mix = np.zeros(total, dtype=np.int32)
    for start, clip in pieces:
        mix[start : start + clip.size] += clip
    return np.clip(mix, -32768, 32767).astype(np.int16)


def load_scenario(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise ScenarioError(f"{path}: needs an 'events' list")
    rate = data.get("sample_rate", 16000)
    if not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0:
        raise ScenarioError(f"{path}: sample_rate must be a positive integer (Hz), got {rate!r}")
    events: list[Event] = []
    for index, item in enumerate(data["events"]):
        where = f"{path}: events[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("at"), int | float):
            raise ScenarioError(f"{where} needs a numeric 'at' (seconds)")
        if isinstance(item.get("say"), str):
            events.append(Speech(at=float(item["at"]), text=item["say"]))
        elif isinstance(item.get("noise_ms"), int):
            events.append(Noise(at=float(item["at"]), ms=item["noise_ms"],
                                level=float(item.get("level", 0.3))))  # fmt: skip
        elif isinstance(item.get("play"), str):
            events.append(_play(path, where, float(item["at"]), item["play"], rate))
        else:
            raise ScenarioError(f"{where} needs 'say: TEXT', 'noise_ms: N' or 'play: FILE'")
    return Scenario(sample_rate=rate, events=tuple(events), tail_s=float(data.get("tail_s", 2.0)))


def _play(scenario: Path, where: str, at: float, name: str, rate: int) -> Play:
    audio_path = scenario.parent / name
    try:
        return Play(at=at, path=audio_path, audio=decode_audio_file(audio_path, sample_rate=rate))
    except AudioDecodeError as exc:
        raise ScenarioError(f"{where}: play: {exc}") from None
