"""Scenario `play:` events: a recording on the timeline, decoded when the scenario loads."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from voicectl.bench.scenario import Play, ScenarioError, load_scenario, render


def write_flac(path: Path, samples: np.ndarray, rate: int) -> None:
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples.reshape(1, -1)), format="s16p", layout="mono"
    )
    frame.sample_rate = rate
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("flac", rate=rate)
        stream.layout = "mono"
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


def test_play_is_relative_to_the_scenario_and_lands_at_its_time(tmp_path: Path) -> None:
    clip = np.full(4410, 8000, dtype=np.int16)  # 100 ms of DC at 44.1 kHz
    write_flac(tmp_path / "clips" / "knock.flac", clip, 44100)
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text(
        "sample_rate: 16000\ntail_s: 0.5\nevents:\n"
        "  - {at: 0.0, noise_ms: 20, level: 0.01}\n"
        "  - {at: 1.0, play: clips/knock.flac}\n"
    )
    scenario = load_scenario(scenario_file)
    play = scenario.events[1]
    assert isinstance(play, Play)
    assert play.path == tmp_path / "clips" / "knock.flac"
    assert abs(play.audio.size - 1600) <= 1
    audio = render(scenario)
    assert np.all(audio[16000 + 50 : 16000 + 1550] > 7000), "the clip plays from 1.0 s"
    assert np.all(audio[1000:15900] == 0)
    assert audio.size >= 16000 + 1600 + 8000


@pytest.mark.parametrize(
    ("content", "words"),
    [(None, "no such file"), (b"\x00\x01garbage" * 300, "no audio could be decoded")],
)
def test_a_bad_recording_names_the_event_and_the_file(
    tmp_path: Path, content: bytes | None, words: str
) -> None:
    if content is not None:
        (tmp_path / "broken.flac").write_bytes(content)
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text(
        "events:\n  - {at: 0.0, noise_ms: 20}\n  - {at: 1.0, play: broken.flac}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(scenario_file)
    message = str(caught.value)
    assert f"{scenario_file}: events[1]: play: {tmp_path / 'broken.flac'}" in message
    assert words in message


def test_an_event_of_no_known_kind_lists_play(tmp_path: Path) -> None:
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text("events:\n  - {at: 0.0, sing: la}\n")
    with pytest.raises(ScenarioError, match="'play: FILE'"):
        load_scenario(scenario_file)
