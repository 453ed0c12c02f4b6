"""bench turns without a stack: judging one run's events, finding references, the report."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.bench_fields import documented_fields
from voicectl.bench.conversation import UserSpeech
from voicectl.bench.recordings import (
    Recording,
    RecordingError,
    find_reference,
    load_recording,
    speech_frames,
    transcript_from_readme,
)
from voicectl.bench.turns import LATENCIES, TurnsReport, judge
from voicectl.orchestrator import events as ev
from voicectl.talk.transcripts import turn_open

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "audio"
JFK_TEXT = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def test_a_split_sentence_is_two_turns_and_still_scored_whole() -> None:
    events = [
        ev.TranscriptPartial("And so my fellow"),
        ev.TranscriptFinal("And so, my fellow Americans, ask not"),
        ev.TranscriptFinal(""),  # nothing recognised: not a turn
        ev.TranscriptFinal(
            "what your country can do for you, ask what you can do for your country."
        ),
    ]
    result = judge(events, reference=JFK_TEXT, input_name="jfk.flac", run=2)
    assert result.turns == 2
    assert result.wer == 0.0
    assert result.loops == 0
    assert 0 < result.max_compression_ratio < 2.4
    assert result.to_dict()["final_after_speech_ms"] is None


def test_loops_count_in_partials_and_finals() -> None:
    loop = "ask not to ask not to ask not to ask not to"
    events = [ev.TranscriptPartial(loop), ev.TranscriptFinal("ask not")]
    result = judge(events, reference=None)
    assert result.wer is None
    assert result.loops == 1
    assert result.loop_texts == [loop]


def test_readme_transcript_column_is_found_by_file_name() -> None:
    readme = (SHARED / "README.md").read_text(encoding="utf-8")
    assert transcript_from_readme(readme, "jfk.flac") == JFK_TEXT
    assert transcript_from_readme(readme, "other.flac") is None
    assert transcript_from_readme("| file | notes |\n|---|---|\n| `a.wav` | x |\n", "a.wav") is None


def test_reference_sources_in_order(tmp_path: Path) -> None:
    audio = tmp_path / "clip.flac"
    assert find_reference(audio, None) is None
    (tmp_path / "README.md").write_text(
        "| file | transcript |\n|---|---|\n| clip.flac | from readme |\n"
    )
    assert find_reference(audio, None) == "from readme"
    (tmp_path / "clip.txt").write_text("from clip.txt\n")
    assert find_reference(audio, None) == "from clip.txt"
    (tmp_path / "clip.flac.txt").write_text("from clip.flac.txt\n")
    assert find_reference(audio, None) == "from clip.flac.txt"
    (tmp_path / "given.txt").write_text("from given.txt\n")
    assert find_reference(audio, str(tmp_path / "given.txt")) == "from given.txt"
    assert find_reference(audio, "literal words") == "literal words"
    with pytest.raises(RecordingError, match=r"--reference .*missing\.txt"):
        find_reference(audio, str(tmp_path / "missing.txt"))


def test_silero_finds_the_speech_in_the_recording() -> None:
    recording = load_recording(SHARED / "jfk.flac")
    assert recording.reference == JFK_TEXT, "taken from the README beside it"
    assert recording.seconds == 11.0
    assert 0.2 < recording.speech.first_frame * 0.02 < 0.5
    assert 10.0 < recording.speech_end_s < 10.9, "speech ends before the applause"
    assert speech_frames(np.zeros(16000, dtype=np.int16)) is None


def test_a_file_with_no_speech_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x00" * 16000)
    with pytest.raises(RecordingError, match=r"--input: .*silence\.wav: no speech found"):
        load_recording(path)


def test_report_fields_match_the_documented_table() -> None:
    speech = UserSpeech(name="a.flac", audio=np.zeros(32000, np.int16), first_frame=5,
                        last_frame=60)  # fmt: skip
    recording = Recording(path=Path("a.flac"), speech=speech, reference="hello there")
    one = judge([ev.TranscriptFinal("hello there")], reference="hello there",
                input_name="a.flac", run=1,
                latencies_ms={name: 100.0 for name in LATENCIES})  # fmt: skip
    two = judge([ev.TranscriptFinal("hello"), ev.TranscriptFinal("where")],
                reference="hello there", input_name="a.flac", run=2)  # fmt: skip
    report = TurnsReport(runs=2, recordings=[recording], results=[one, two]).to_dict()
    assert set(report) == documented_fields("turns")
    assert report["single_turn_rate"] == 0.5
    assert report["wer_mean"] == 0.25
    assert report["wer_max"] == 0.5
    assert report["inputs"] == [
        {"file": "a.flac", "seconds": 2.0, "speech_end_s": 1.22, "reference": "hello there"}
    ]
    assert report["final_after_speech_ms"] == {
        "min": 100.0, "p50": 100.0, "p95": 100.0, "max": 100.0, "mean": 100.0,
    }  # fmt: skip
    results = report["results"]
    assert isinstance(results, list)
    assert results[1]["turns"] == 2
    assert results[1]["voice_to_voice_ms"] is None
    assert report["continuations"] == 0


def test_a_turn_carried_on_counts_once_with_its_whole_text() -> None:
    carried_on = ev.TranscriptFinal("hello there", continues=True)
    result = judge([ev.TranscriptFinal("hello"), carried_on],
                   reference="hello there", input_name="a.flac", run=1)  # fmt: skip
    assert result.transcripts == ["hello there"]
    assert result.turns == 1
    assert result.continuations == 1
    assert result.wer == 0.0


def test_barge_in_speech_starts_at_its_onset() -> None:
    audio = np.arange(3200, dtype=np.int16)
    speech = UserSpeech(name="x", audio=audio, first_frame=3, last_frame=8).from_onset()
    assert speech.audio[0] == 960
    assert (speech.first_frame, speech.last_frame) == (0, 5)


def test_a_turn_is_open_while_a_partial_has_no_final_after_it() -> None:
    partial = ev.TranscriptPartial("And so")
    final = ev.TranscriptFinal("And so my fellow Americans.")
    assert turn_open([final, partial])
    assert not turn_open([partial, final])
    assert not turn_open([])
