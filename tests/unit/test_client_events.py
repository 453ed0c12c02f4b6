"""What every client does with the server's text messages: typed, stamped, matched by
class; an event type it does not know is skipped, not fatal."""

from __future__ import annotations

import json
import logging

import pytest

from voicectl.orchestrator import events as ev
from voicectl.talk.client import ConversationClient


async def test_a_message_is_kept_as_its_typed_event_with_its_stamps() -> None:
    client = ConversationClient("ws://unused")
    client.playback.start_reply()
    client.audio_frames = 3
    for _ in range(3):
        client.playback.receive(b"\0\0" * 480)
    event = client.receive_event(json.dumps({"type": "clear", "played_frames": 1}))
    assert event == ev.Clear(1)
    [received] = client.events
    assert received.event == ev.Clear(1)
    assert received.type == "clear"
    assert received.audio_before == 3
    assert len(client.playback.reply) == 1  # the speaker applied the clear
    client.receive_event(b'{"type": "transcript.final", "text": "hi", "continues": true}')
    assert client.count(ev.TranscriptFinal) == 1
    final = await client.wait_for(ev.TranscriptFinal, timeout=1)
    assert final.event.text == "hi"
    assert final.event.continues
    assert final.at >= received.at
    assert client.server_events() == [ev.Clear(1), ev.TranscriptFinal("hi", continues=True)]


async def test_an_unknown_event_type_is_logged_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = ConversationClient("ws://unused")
    with caplog.at_level(logging.WARNING):
        assert client.receive_event('{"type": "reply.sparkles", "count": 3}') is None
        assert client.receive_event('{"type": "error", "code": 5}') is None  # a bad field
    assert client.events == []
    assert "reply.sparkles" in caplog.text
    assert "error.code" in caplog.text
    client.receive_event('{"type": "reply.done"}')
    assert [r.event for r in client.received(ev.ReplyDone)] == [ev.ReplyDone()]
