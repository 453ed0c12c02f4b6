"""Recorded speech as bench input: decode it, find where the speech is, find its transcript.

A recording has a noise floor (breath, room, applause) that a loudness threshold cannot
tell from speech, so the end of speech, where the latency clocks start, is where Silero
VAD (the model faster-whisper bundles for ``vad_filter``) says the last speech ends: a
detector independent of the orchestrator's own webrtcvad.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicectl.audio.decode import AudioDecodeError, decode_audio_file
from voicectl.audio.frames import Int16Audio, samples_per_frame, to_float32
from voicectl.bench.conversation import RATE, UserSpeech


class RecordingError(ValueError):
    """A recording or its reference cannot be used; the message names the file."""


@dataclass(frozen=True, eq=False)
class Recording:
    path: Path
    speech: UserSpeech
    reference: str | None  # what was said, for WER; None when unknown

    @property
    def seconds(self) -> float:
        return round(self.speech.audio.size / RATE, 3)

    @property
    def speech_end_s(self) -> float:
        """Where the end of speech was taken to be (end of its last 20 ms frame)."""
        return round((self.speech.last_frame + 1) * samples_per_frame(RATE) / RATE, 3)


def speech_frames(audio: Int16Audio) -> tuple[int, int] | None:
    """First and last 20 ms frame of speech by Silero VAD, or None when it hears none."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    spans = get_speech_timestamps(
        to_float32(audio), VadOptions(min_silence_duration_ms=100, speech_pad_ms=0), RATE
    )
    if not spans:
        return None
    width = samples_per_frame(RATE)
    last = min(int(spans[-1]["end"]) - 1, audio.size - 1) // width
    return int(spans[0]["start"]) // width, last


def transcript_from_readme(readme: str, name: str) -> str | None:
    """The ``transcript`` cell of the table row whose first cell is ``name`` (backticks
    allowed), as in ``shared/audio/README.md``."""
    column: int | None = None
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|"):
            column = None
            continue
        lowered = [cell.lower() for cell in cells]
        if "transcript" in lowered:
            column = lowered.index("transcript")
        elif column is not None and cells[0].strip("`") == name and len(cells) > column:
            return cells[column] or None
    return None


def find_reference(path: Path, given: str | None) -> str | None:
    """``given`` (literal text, or a .txt file to read), else ``<input>.txt`` or
    ``<input minus suffix>.txt`` beside the recording, else the README.md beside it."""
    if given is not None:
        if given.endswith(".txt") or Path(given).is_file():
            try:
                return Path(given).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise RecordingError(
                    f"--reference {given}: cannot read the transcript file ({exc.strerror})"
                ) from None
        return given
    for candidate in (path.with_name(path.name + ".txt"), path.with_suffix(".txt")):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8").strip()
    readme = path.parent / "README.md"
    if readme.is_file():
        return transcript_from_readme(readme.read_text(encoding="utf-8"), path.name)
    return None


def load_recording(path: Path, *, reference: str | None = None) -> Recording:
    """Decode ``path`` at the bench rate and locate its speech (``--input``)."""
    try:
        audio = decode_audio_file(path, sample_rate=RATE)
    except AudioDecodeError as exc:
        raise RecordingError(f"--input: {exc}") from None
    bounds = speech_frames(audio)
    if bounds is None:
        raise RecordingError(f"--input: {path}: no speech found in it (Silero VAD)")
    speech = UserSpeech(name=path.name, audio=np.asarray(audio, dtype=np.int16),
                        first_frame=bounds[0], last_frame=bounds[1])  # fmt: skip
    return Recording(path=path, speech=speech, reference=find_reference(path, reference))
