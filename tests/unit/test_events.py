"""The typed protocol events: the JSON each one makes is what docs/protocol.md shows (and
what the dict-building code before them sent, byte for byte), and parsing gives it back;
a bad message is refused naming the field and what it allows."""

from __future__ import annotations

import json

import pytest

from voicectl.orchestrator import events as ev
from voicectl.orchestrator.events import EventError, parse_client_event, parse_server_event

STARTED = ev.Started(
    session_id="ws-3f2a9c1b7d4e", input_sample_rate=16000, output_sample_rate=24000,
    input_frame_bytes=640, output_frame_bytes=960,
)  # fmt: skip
# (event, its JSON object as docs/protocol.md writes it, key order included)
SERVER_CASES: list[tuple[ev.ServerEvent, dict[str, object]]] = [
    (STARTED, {"type": "started", "session_id": "ws-3f2a9c1b7d4e", "input_sample_rate": 16000,
               "output_sample_rate": 24000, "input_frame_bytes": 640,
               "output_frame_bytes": 960}),
    (ev.TranscriptPartial("What is the weather like?"),
     {"type": "transcript.partial", "text": "What is the weather like?"}),
    (ev.TranscriptFinal("hello there"), {"type": "transcript.final", "text": "hello there"}),
    (ev.TranscriptFinal("", continues=True),
     {"type": "transcript.final", "text": "", "continues": True}),
    (ev.ReplyText(" said:"), {"type": "reply.text", "text": " said:"}),
    (ev.ReplyStarted(), {"type": "reply.started"}),
    (ev.ReplyPaused(), {"type": "reply.paused"}),
    (ev.ReplyResumed(), {"type": "reply.resumed"}),
    (ev.ReplyStopped(), {"type": "reply.stopped"}),
    (ev.ReplyStopped("text input"), {"type": "reply.stopped", "reason": "text input"}),
    (ev.ReplyDone(), {"type": "reply.done"}),
    (ev.ReplyFailover(from_worker="w1", to_worker="w2", reason="UNAVAILABLE"),
     {"type": "reply.failover", "from_worker": "w1", "to_worker": "w2",
      "reason": "UNAVAILABLE"}),
    (ev.Clear(), {"type": "clear"}),
    (ev.Clear(57), {"type": "clear", "played_frames": 57}),
    (ev.Clear(0), {"type": "clear", "played_frames": 0}),  # 0 is not "absent"
    (ev.Error(code="bad_frame", message="got 100"),
     {"type": "error", "code": "bad_frame", "message": "got 100"}),
]  # fmt: skip
CLIENT_CASES: list[tuple[ev.ClientEvent, dict[str, object]]] = [
    (ev.Start(), {"type": "start", "input_sample_rate": 16000, "output_sample_rate": 24000,
                  "model_id": "", "voice": ""}),
    (ev.Start(input_sample_rate=48000, output_sample_rate=8000, model_id="mock:sine",
              voice="a"),
     {"type": "start", "input_sample_rate": 48000, "output_sample_rate": 8000,
      "model_id": "mock:sine", "voice": "a"}),
    (ev.Text("héllo \u2603"), {"type": "text", "text": "héllo \u2603"}),
]  # fmt: skip


def test_every_event_class_has_a_case() -> None:
    covered = {type(event) for event, _ in [*SERVER_CASES, *CLIENT_CASES]}
    assert covered == {*ev.SERVER_EVENTS, *ev.CLIENT_EVENTS}


@pytest.mark.parametrize(("event", "wire"), SERVER_CASES, ids=lambda c: getattr(c, "type", ""))
def test_a_server_event_round_trips_with_the_documented_json(
    event: ev.ServerEvent, wire: dict[str, object]
) -> None:
    text = ev.to_json(event)
    assert text == json.dumps(wire)  # what the server sent before: json.dumps of the dict
    assert list(ev.to_dict(event)) == list(wire)  # key order too
    assert parse_server_event(text) == event
    assert parse_server_event(wire) == event  # an object already read parses the same


@pytest.mark.parametrize(("event", "wire"), CLIENT_CASES, ids=lambda c: getattr(c, "type", ""))
def test_a_client_event_round_trips_with_the_documented_json(
    event: ev.ClientEvent, wire: dict[str, object]
) -> None:
    assert ev.to_json(event) == json.dumps(wire)
    assert parse_client_event(ev.to_json(event)) == event


def test_a_start_fills_in_the_documented_defaults_and_ignores_unknown_fields() -> None:
    start = parse_client_event('{"type": "start", "future": 1, "output_sample_rate": 16000.0}')
    assert start == ev.Start(output_sample_rate=16000)
    assert isinstance(start, ev.Start)
    assert type(start.output_sample_rate) is int


def test_an_unknown_type_is_refused_listing_the_allowed_ones() -> None:
    with pytest.raises(EventError) as refused:
        parse_server_event('{"type": "reply.exploded"}')
    assert refused.value.code == "unknown_type"
    assert refused.value.field == "type"
    assert "unknown event type 'reply.exploded'" in str(refused.value)
    assert "'reply.started'" in str(refused.value)
    assert "'clear'" in str(refused.value)


@pytest.mark.parametrize(
    "raw",
    ['{"type": "start"}', '{"type": ["reply.done"]}', '{"text": "hi"}', "[1, 2]", '"clear"'],
)
def test_what_a_side_does_not_receive_is_an_unknown_type(raw: str) -> None:
    with pytest.raises(EventError) as refused:
        parse_server_event(raw)  # a client never receives "start"; a list is no type
    assert refused.value.code == "unknown_type"


def test_a_server_event_is_not_a_client_message() -> None:
    with pytest.raises(EventError) as refused:
        parse_client_event('{"type": "reply.done"}')
    assert str(refused.value) == "unknown event type 'reply.done'; expected one of 'start', 'text'"


def test_text_that_is_not_json_is_bad_json() -> None:
    with pytest.raises(EventError, match="event is not valid JSON") as refused:
        parse_server_event("{not json")
    assert refused.value.code == "bad_json"


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ('{"type": "reply.failover", "from_worker": "a", "reason": "x"}',
         "reply.failover.to_worker", "reply.failover.to_worker is missing; it must be a string"),
        ('{"type": "error", "message": "m"}', "error.code", "error.code is missing"),
        ('{"type": "started", "session_id": "s"}', "started.input_sample_rate",
         "must be an integer"),
        ('{"type": "reply.text"}', "reply.text.text", "reply.text.text is missing"),
    ],
)  # fmt: skip
def test_a_missing_field_is_named(raw: str, field: str, words: str) -> None:
    with pytest.raises(EventError) as refused:
        parse_server_event(raw)
    assert (refused.value.code, refused.value.field) == ("bad_field", field)
    assert words in str(refused.value)


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ('{"type": "clear", "played_frames": "57"}', "clear.played_frames",
         "clear.played_frames must be an integer or absent; got '57'"),
        ('{"type": "clear", "played_frames": true}', "clear.played_frames", "got True"),
        ('{"type": "transcript.final", "text": "a", "continues": 1}',
         "transcript.final.continues", "must be true or false or absent; got 1"),
        ('{"type": "reply.text", "text": 5}', "reply.text.text", "must be a string; got 5"),
        ('{"type": "reply.stopped", "reason": ["x"]}', "reply.stopped.reason", "a string"),
    ],
)  # fmt: skip
def test_a_wrong_typed_field_is_named_with_what_it_allows(raw: str, field: str, words: str) -> None:
    with pytest.raises(EventError) as refused:
        parse_server_event(raw)
    assert (refused.value.code, refused.value.field) == ("bad_field", field)
    assert words in str(refused.value)


def test_null_for_an_optional_field_means_absent() -> None:
    assert parse_server_event('{"type": "clear", "played_frames": null}') == ev.Clear()


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        ('{"type": "start", "output_sample_rate": 11111}', "bad_sample_rate",
         "start.output_sample_rate 11111 is not supported; use one of 8000, 16000, 22050, "
         "24000, 44100, 48000"),
        ('{"type": "start", "input_sample_rate": true}', "bad_sample_rate",
         "start.input_sample_rate True is not supported"),
        # The rates are checked first, in order: the same error the server always gave.
        ('{"type": "start", "voice": 1, "input_sample_rate": "16k"}', "bad_sample_rate",
         "start.input_sample_rate '16k' is not supported"),
        ('{"type": "start", "model_id": 3}', "bad_field", "start.model_id must be a string"),
        ('{"type": "start", "voice": "a\\u0007"}', "bad_field",
         "start.voice has a control character U+0007 at offset 1; model ids and voices are "
         "printable"),
        ('{"type": "text"}', "bad_field", "text.text must be a non-empty string"),
        ('{"type": "text", "text": "  "}', "bad_field", "text.text must be a non-empty string"),
        ('{"type": "text", "text": "' + "y" * 4097 + '"}', "bad_field",
         "text.text is over 4096 characters"),
        ('{"type": "text", "text": "a\\ud800"}', "bad_field",
         "text.text has a lone surrogate U+D800 at offset 1; send printable text"),
    ],
)  # fmt: skip
def test_client_messages_are_refused_with_the_protocols_codes(
    raw: str, code: str, message: str
) -> None:
    with pytest.raises(EventError) as refused:
        parse_client_event(raw)
    assert refused.value.code == code
    assert str(refused.value).startswith(message)
