"""The orchestrator WebSocket protocol's JSON messages, typed (docs/protocol.md).

One frozen dataclass per message, both directions, each with a ``Literal`` ``type``.
``to_dict``/``to_json`` and ``parse_event`` are the only code that turns them into JSON
and back, for the server and the clients alike: the wire format is spelled once. A bad
message raises ``EventError`` with the protocol's error code and a message naming the
field and what it allows.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Final, Literal, cast

from voicectl.audio.frames import SUPPORTED_SAMPLE_RATES
from voicectl.speakable import unspeakable

MAX_TEXT_CHARS = 4096
QUOTE_LIMIT = 80


class EventError(ValueError):
    """A message that is not one of the protocol's; ``code`` is the ``error`` code it earns."""

    def __init__(self, code: str, field_name: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field_name  # "type", "text.text", "clear.played_frames"...
        self.message = message


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``ascii(value)``, cut: a 60 KB value makes a short error, and a close reason built
    from it stays ASCII (one byte a character: under the 123 bytes a close frame holds)."""
    shown = ascii(value)
    if len(shown) <= limit:
        return shown
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{shown[:limit]}...{size}"


class BadJson(Exception):
    """Text that json.loads cannot turn into a value."""


def load_json(raw: str, what: str) -> Any:
    """``json.loads``, with every way client text makes it fail raised as BadJson.

    Besides syntax errors: nesting past the recursion limit (RecursionError) and an
    integer longer than Python converts (ValueError; it crashed the session).
    """
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadJson(f"{what} is not valid JSON: {exc.msg}") from None
    except RecursionError:  # "[[[[..." a few thousand deep: no message of ours nests so
        raise BadJson(f"{what} nests too deeply; messages are flat JSON objects") from None
    except ValueError:
        limit = sys.get_int_max_str_digits()
        raise BadJson(f"{what} has a number of over {limit} digits") from None


# ------------------------------------------------------------ field checks

ABSENT: Final = object()  # what a check is given for a required field the message lacks
Check = Callable[[str, object], object]  # (field path, value) -> the value to keep


def _sample_rate(path: str, value: object) -> object:
    if value not in SUPPORTED_SAMPLE_RATES or isinstance(value, bool):
        rates = ", ".join(str(r) for r in SUPPORTED_SAMPLE_RATES)
        message = f"{path} {quoted(value)} is not supported; use one of {rates}"
        raise EventError("bad_sample_rate", path, message)
    assert isinstance(value, int | float)
    return int(value)  # 16000.0 is 16000 in JSON


def _name(path: str, value: object) -> object:
    if not isinstance(value, str):
        raise EventError("bad_field", path, f"{path} must be a string")
    # A lone surrogate cannot even be encoded for the worker: every reply failed as
    # "the synthesis stream was cancelled", naming nothing the client sent.
    reason = unspeakable(value)
    if reason is not None:
        message = f"{path} has a {reason}; model ids and voices are printable"
        raise EventError("bad_field", path, message)
    return value


def _turn_text(path: str, value: object) -> object:
    if not isinstance(value, str) or not value.strip():
        raise EventError("bad_field", path, f"{path} must be a non-empty string")
    if len(value) > MAX_TEXT_CHARS:
        raise EventError("bad_field", path, f"{path} is over {MAX_TEXT_CHARS} characters")
    reason = unspeakable(value)
    if reason is not None:
        raise EventError("bad_field", path, f"{path} has a {reason}; send printable text")
    return value


def _checked(check: Check) -> dict[str, object]:
    """Field metadata: ``check`` knows the allowed values (and words the error)."""
    return {"check": check}


OMIT: Final = {"omit": True}  # field metadata: left off the wire while it has its default


# ------------------------------------------------------------ client -> server


@dataclass(frozen=True, slots=True)
class Start:
    """The first message of a session: the audio rates, and the voice to answer in."""

    type: Literal["start"] = field(default="start", init=False)
    input_sample_rate: int = field(default=16000, metadata=_checked(_sample_rate))
    output_sample_rate: int = field(default=24000, metadata=_checked(_sample_rate))
    model_id: str = field(default="", metadata=_checked(_name))
    voice: str = field(default="", metadata=_checked(_name))


@dataclass(frozen=True, slots=True)
class Text:
    """A user turn typed instead of spoken."""

    type: Literal["text"] = field(default="text", init=False)
    text: str = field(metadata=_checked(_turn_text))


# ------------------------------------------------------------ server -> client


@dataclass(frozen=True, slots=True, kw_only=True)
class Started:
    """The answer to ``start``: the negotiated rates and every binary message's size."""

    type: Literal["started"] = field(default="started", init=False)
    session_id: str
    input_sample_rate: int
    output_sample_rate: int
    input_frame_bytes: int
    output_frame_bytes: int


@dataclass(frozen=True, slots=True)
class TranscriptPartial:
    type: Literal["transcript.partial"] = field(default="transcript.partial", init=False)
    text: str


@dataclass(frozen=True, slots=True)
class TranscriptFinal:
    """``continues``: the user carried on the turn the previous final ended too early."""

    type: Literal["transcript.final"] = field(default="transcript.final", init=False)
    text: str
    continues: bool = field(default=False, metadata=OMIT)


@dataclass(frozen=True, slots=True)
class ReplyText:
    type: Literal["reply.text"] = field(default="reply.text", init=False)
    text: str


@dataclass(frozen=True, slots=True)
class ReplyStarted:
    type: Literal["reply.started"] = field(default="reply.started", init=False)


@dataclass(frozen=True, slots=True)
class ReplyPaused:
    type: Literal["reply.paused"] = field(default="reply.paused", init=False)


@dataclass(frozen=True, slots=True)
class ReplyResumed:
    type: Literal["reply.resumed"] = field(default="reply.resumed", init=False)


@dataclass(frozen=True, slots=True)
class ReplyStopped:
    """``reason``: none for a confirmed barge-in, else ``"text input"`` and the like."""

    type: Literal["reply.stopped"] = field(default="reply.stopped", init=False)
    reason: str | None = field(default=None, metadata=OMIT)


@dataclass(frozen=True, slots=True)
class ReplyDone:
    type: Literal["reply.done"] = field(default="reply.done", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyFailover:
    type: Literal["reply.failover"] = field(default="reply.failover", init=False)
    from_worker: str
    to_worker: str
    reason: str


@dataclass(frozen=True, slots=True)
class Clear:
    """Flush playback; with ``played_frames``, keep that many frames of the reply."""

    type: Literal["clear"] = field(default="clear", init=False)
    played_frames: int | None = field(default=None, metadata=OMIT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Error:
    type: Literal["error"] = field(default="error", init=False)
    code: str
    message: str


ClientEvent = Start | Text
ServerEvent = (
    Started | TranscriptPartial | TranscriptFinal | ReplyText | ReplyStarted | ReplyPaused
    | ReplyResumed | ReplyStopped | ReplyDone | ReplyFailover | Clear | Error
)  # fmt: skip
Event = ClientEvent | ServerEvent
CLIENT_EVENTS: tuple[type[ClientEvent], ...] = (Start, Text)
SERVER_EVENTS: tuple[type[ServerEvent], ...] = (
    Started, TranscriptPartial, TranscriptFinal, ReplyText, ReplyStarted, ReplyPaused,
    ReplyResumed, ReplyStopped, ReplyDone, ReplyFailover, Clear, Error,
)  # fmt: skip


# ------------------------------------------------------------ the wire


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kind: type  # str, int or bool
    default: object  # dataclasses.MISSING when required
    nullable: bool  # None is allowed (and means "absent")
    omit: bool  # left off the wire while it equals its default
    check: Check | None


_KINDS: dict[str, tuple[type, bool]] = {
    "str": (str, False), "int": (int, False), "bool": (bool, False),
    "str | None": (str, True), "int | None": (int, True),
}  # fmt: skip
_KIND_WORDS = {str: "a string", int: "an integer", bool: "true or false"}


def _spec(cls: type[Event]) -> tuple[str, tuple[_Field, ...]]:
    """The wire type and the fields of one event class, read once at import."""
    tag, *rest = fields(cls)
    specs = []
    for f in rest:
        kind, nullable = _KINDS[str(f.type)]
        specs.append(_Field(f.name, kind, f.default, nullable, bool(f.metadata.get("omit")),
                            f.metadata.get("check")))  # fmt: skip
    return str(tag.default), tuple(specs)


_SPECS: dict[type[Event], tuple[_Field, ...]] = {}
_TYPES: dict[type[Event], str] = {}
for _cls in (*CLIENT_EVENTS, *SERVER_EVENTS):
    _TYPES[_cls], _SPECS[_cls] = _spec(_cls)
_BY_TYPE = {name: cls for cls, name in _TYPES.items()}


def to_dict(event: Event) -> dict[str, object]:
    """The JSON object of ``event``: ``type`` first, then its fields in declared order."""
    out: dict[str, object] = {"type": event.type}
    for f in _SPECS[type(event)]:
        value = getattr(event, f.name)
        if not (f.omit and value == f.default):
            out[f.name] = value
    return out


def to_json(event: Event) -> str:
    """``event`` as the text message the protocol sends."""
    return json.dumps(to_dict(event))


def _value(path: str, f: _Field, message: Mapping[str, object]) -> object:
    value = message.get(f.name, ABSENT)
    if value is ABSENT or (value is None and f.nullable):
        if f.default is not MISSING:
            return f.default
        if f.check is None:
            missing = f"{path} is missing; it must be {_KIND_WORDS[f.kind]}"
            raise EventError("bad_field", path, missing)
    if f.check is not None:
        return f.check(path, value)
    if not isinstance(value, f.kind) or (f.kind is int and isinstance(value, bool)):
        allowed = _KIND_WORDS[f.kind] + (" or absent" if f.default is not MISSING else "")
        raise EventError("bad_field", path, f"{path} must be {allowed}; got {quoted(value)}")
    return value


def parse_event(raw: str | Mapping[str, object], *, expected: tuple[type[Event], ...]) -> Event:
    """One message (JSON text, or the object already read) as the event it is.

    ``expected``: the classes this side accepts (``SERVER_EVENTS`` in a client,
    ``CLIENT_EVENTS`` in the server); any other ``type`` is an ``unknown_type`` error.
    Fields the message has beyond the event's are ignored (forward compatibility).
    """
    message: object = raw
    if isinstance(raw, str):
        try:
            message = load_json(raw, "event")
        except BadJson as exc:
            raise EventError("bad_json", "", str(exc)) from None
    if not isinstance(message, Mapping):
        shown = quoted(message)
        raise EventError("unknown_type", "type", f"an event is a JSON object; got {shown}")
    kind = message.get("type")
    cls = _BY_TYPE.get(kind) if isinstance(kind, str) else None
    if cls is None or cls not in expected:
        allowed = ", ".join(repr(_TYPES[known]) for known in expected)
        unknown = f"unknown event type {quoted(kind)}; expected one of {allowed}"
        raise EventError("unknown_type", "type", unknown)
    values: dict[str, Any] = {f.name: _value(f"{kind}.{f.name}", f, message) for f in _SPECS[cls]}
    return cls(**values)


def parse_server_event(raw: str | Mapping[str, object]) -> ServerEvent:
    """What a client does with each text message the server sends."""
    return cast(ServerEvent, parse_event(raw, expected=SERVER_EVENTS))


def parse_client_event(raw: str | Mapping[str, object]) -> ClientEvent:
    """What the server does with each JSON message a client sends."""
    return cast(ClientEvent, parse_event(raw, expected=CLIENT_EVENTS))
