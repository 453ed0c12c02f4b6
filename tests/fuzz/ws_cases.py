"""Hypothesis strategies for WebSocket client messages, and an oracle for what each must get.

The oracle is docs/protocol.md ("Client messages", "Errors", "Before start is accepted")
written as code: given one message, the error code it earns, or that it is audio or a
typed turn. Generators aim at the edges: wrong types, missing fields, unknown types,
JSON that is not an object, deep nesting (either shallow or far past Python's recursion
limit, never near it, where the answer would depend on the stack), integers longer than
Python converts, NaN, controls and lone surrogates (sent as JSON escapes), odd frame
sizes. Messages that end the connection (over 64 KiB, a text frame that is not UTF-8)
are drawn separately: they are a case's last message.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from voicectl.audio.frames import SUPPORTED_SAMPLE_RATES, frame_bytes
from voicectl.orchestrator.transports.websocket import MAX_MESSAGE_BYTES, MAX_TEXT_CHARS

AUDIO, TEXT = "audio", "text"  # what a valid message is, beside the error codes


@dataclass(frozen=True)
class Msg:
    """One client message: a text frame (str, or bytes sent as a text frame) or binary."""

    data: str | bytes
    as_text: bool = False  # bytes sent in a *text* frame (to send bytes that are not UTF-8)

    def __repr__(self) -> str:  # short: hypothesis prints it for a failing example
        shown = repr(self.data[:60]) + (f"...({len(self.data)})" if len(self.data) > 60 else "")
        return f"Msg({shown}{', text frame' if self.as_text else ''})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's printer
        printer.text(repr(self))


def first_unspeakable(text: str) -> tuple[str, int] | None:
    """A control character (not tab/newline/CR) or lone surrogate, and its offset."""
    for offset, char in enumerate(text):
        if unicodedata.category(char) in ("Cc", "Cs") and char not in "\t\n\r":
            return char, offset
    return None


def decoded(data: str) -> tuple[bool, Any]:
    """(True, value) if ``data`` is JSON Python reads, else (False, None)."""
    try:
        return True, json.loads(data)
    except (ValueError, RecursionError):  # JSONDecodeError, and an int of > 4300 digits
        return False, None


def after_start(msg: Msg, frame: int) -> tuple[str, str]:
    """(code or AUDIO or TEXT, words its error message must contain) for one message."""
    if isinstance(msg.data, bytes) and not msg.as_text:
        if len(msg.data) == frame:
            return AUDIO, ""
        return "bad_frame", f"exactly {frame} bytes"
    assert isinstance(msg.data, str)
    ok, value = decoded(msg.data)
    if not ok:
        return "bad_json", "message"
    if not isinstance(value, dict) or value.get("type") not in ("text", "start"):
        return "unknown_type", "unknown message type"
    if value["type"] == "start":
        return "already_started", "start"
    text = value.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_CHARS:
        return "bad_field", "text.text"
    found = first_unspeakable(text)
    if found is not None:
        return "bad_field", f"U+{ord(found[0]):04X} at offset {found[1]}"
    return TEXT, text


def before_start(msg: Msg) -> tuple[str, str]:
    """The same before ``start`` is accepted ("started" for a valid start)."""
    if isinstance(msg.data, bytes):
        return "expected_start", "start"
    ok, value = decoded(msg.data)
    if not ok:
        return "bad_json", "start message"
    if not isinstance(value, dict) or value.get("type") != "start":
        return "expected_start", '"type": "start"'
    for key in ("input_sample_rate", "output_sample_rate"):
        rate = value.get(key, 16000)
        if rate not in SUPPORTED_SAMPLE_RATES or isinstance(rate, bool):
            return "bad_sample_rate", f"start.{key}"
    for key in ("model_id", "voice"):
        name = value.get(key, "")
        if not isinstance(name, str):
            return "bad_field", f"start.{key}"
        if first_unspeakable(name) is not None:
            return "bad_field", f"start.{key}"
    return "started", ""


# ----------------------------------------------------------------- JSON values

printable = st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t\n\r ")
any_char = st.characters()  # surrogates and controls included
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(any_char, max_size=30),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip


@st.composite
def dumped(draw: st.DrawFn, value: object) -> str:
    """``value`` as JSON text; escapes chosen at random (always for lone surrogates)."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
        ascii_only = draw(st.booleans())
    except UnicodeEncodeError:
        ascii_only = True
    return json.dumps(value, ensure_ascii=ascii_only)


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


deep = st.integers(3000, 20_000)  # far past the recursion limit, whatever the stack
shallow = st.integers(1, 200)
digits = st.integers(4301, 20_000).map(lambda n: "9" * n)


@st.composite
def text_turns(draw: st.DrawFn) -> str:
    """A valid typed turn, or one with a control character or lone surrogate inserted."""
    text = draw(st.text(printable, min_size=1, max_size=60).filter(str.strip))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        bad = draw(st.sampled_from([chr(c) for c in range(0x20)] + ["\x7f", "\x85", "\x9f"])
                   | st.integers(0xD800, 0xDFFF).map(chr))  # fmt: skip
        text = text[:at] + bad + text[at:]
    return draw(dumped({"type": "text", "text": text}))


@st.composite
def json_messages(draw: st.DrawFn) -> str:
    """JSON that parses: objects with and without the right fields, and other values."""
    kind = draw(st.sampled_from(["text-field", "type", "value", "start", "pad"]))
    if kind == "text-field":  # wrong types, empty, blank, missing, too long
        text = draw(json_values | st.text(" \t\n\r\u3000\u2028", max_size=5)
                    | st.just("y" * (MAX_TEXT_CHARS + 1)))  # fmt: skip
        body: dict[str, object] = {"type": "text"}
        if draw(st.booleans()):
            body["text"] = text
        return draw(dumped(body))
    if kind == "type":
        return draw(dumped({"type": draw(json_values), "text": "hello"}))
    if kind == "value":
        return draw(dumped(draw(json_values)))
    if kind == "start":
        return draw(dumped({"type": "start", "input_sample_rate": 16000}))
    return json.dumps({"type": "dance", "pad": "x" * draw(st.integers(10_000, 60_000))})


@st.composite
def raw_texts(draw: st.DrawFn) -> str:
    """Text frames that are not (all) JSON Python reads, and JSON literals it takes anyway."""
    kind = draw(st.sampled_from(["noise", "deep", "shallow", "digits", "literals"]))
    if kind == "noise":
        return draw(st.text(printable, max_size=200))
    if kind == "deep":
        depth = draw(deep)
        return draw(st.sampled_from([nested(depth), '{"type": "text", "text": ' +
                                     nested(depth) + "}"]))  # fmt: skip
    if kind == "shallow":
        return nested(draw(shallow), draw(st.sampled_from(["1", '"x"', "{}", '{"type": "text"}'])))
    if kind == "digits":
        number = draw(st.sampled_from(["", "-"])) + draw(digits)
        return draw(st.sampled_from([number, '{"type": "text", "text": ' + number + "}",
                                     '{"type": ' + number + "}",
                                     '{"type": "text", "text": ' + number + ".5}"]))  # fmt: skip
    return draw(st.sampled_from([
        '{"type": "text", "text": NaN}', '{"type": "text", "text": -Infinity}',
        '{"type": "text", "text": "a", "type": "dance"}', '{"type": "text", "type": "text"}',
        "\ufeff{}", " ", "", "null", '"text"', '{"type": "text", "text": "\\u0000"}',
    ]))  # fmt: skip


def audio(frame: int) -> st.SearchStrategy[Msg]:
    """Silence or a faint dither (no speech for the VAD), or any other length."""
    quiet = st.binary(min_size=frame // 2, max_size=frame // 2).map(
        lambda b: bytes(x for byte in b for x in (byte & 0x07, 0))
    )
    return st.one_of(
        st.just(Msg(bytes(frame))), quiet.map(Msg),
        st.integers(0, 4 * frame).filter(lambda n: n != frame).map(lambda n: Msg(b"\x01" * n)),
    )  # fmt: skip


def session_messages(frame: int) -> st.SearchStrategy[Msg]:
    """Any message after start that leaves the connection open."""
    return st.one_of(
        audio(frame), text_turns().map(Msg), json_messages().map(Msg), raw_texts().map(Msg),
        starts().map(Msg),
    )  # fmt: skip


# Messages that end the connection, with the close code they get.
terminal = st.one_of(
    st.tuples(st.integers(MAX_MESSAGE_BYTES + 1, 2 * MAX_MESSAGE_BYTES).map(
        lambda n: Msg(b"\x00" * n)), st.just(1009)),
    st.tuples(st.integers(MAX_MESSAGE_BYTES + 1, 2 * MAX_MESSAGE_BYTES).map(
        lambda n: Msg(json.dumps({"type": "text", "text": "z" * n}))), st.just(1009)),
    st.tuples(st.sampled_from([b"\xff", b"{\"type\": \"text\", \"text\": \"\xed\xa0\x80\"}",
                               b"\xc0\x80", b"ok\xe2\x82"]).map(lambda b: Msg(b, as_text=True)),
              st.just(1007)),
)  # fmt: skip


# ------------------------------------------------------------------- handshake

FIELDS = ("type", "input_sample_rate", "output_sample_rate", "model_id", "voice")
rates = st.sampled_from(SUPPORTED_SAMPLE_RATES)
bad_rates = st.one_of(
    json_values,
    st.text(st.characters(), min_size=100, max_size=300),
    st.sampled_from([True, False, 16001, -16000, 0, 1e999, "16000"]),
)


@st.composite
def starts(draw: st.DrawFn) -> str:
    """A start with at most one bad field (rates, names) and maybe unknown fields."""
    body: dict[str, object] = {"type": "start"}
    for key in ("input_sample_rate", "output_sample_rate"):
        if draw(st.booleans()):
            body[key] = draw(rates | rates.map(float))
    fault = draw(st.sampled_from(["none", "rate", "name-type", "name-char", "extra"]))
    if fault == "rate":
        body[draw(st.sampled_from(["input_sample_rate", "output_sample_rate"]))] = draw(bad_rates)
    if fault in ("name-type", "name-char"):
        key = draw(st.sampled_from(["model_id", "voice"]))
        if fault == "name-type":
            body[key] = draw(json_values.filter(lambda v: not isinstance(v, str)))
        else:
            body[key] = "mock" + draw(st.sampled_from(["\x00", "\x1b", "\x85", "\ud800", "\udfff"]))
    if fault == "extra":  # unknown fields are ignored
        body.update(draw(st.dictionaries(st.text(max_size=10).filter(lambda k: k not in FIELDS),
                                         json_values, max_size=3)))  # fmt: skip
    return draw(dumped(body))


def handshake_messages() -> st.SearchStrategy[Msg]:
    """Anything before a start: audio, not JSON, JSON that is not a start, bad starts."""
    return st.one_of(
        st.binary(max_size=2000).map(Msg), raw_texts().map(Msg), json_messages().map(Msg),
        text_turns().map(Msg), starts().map(Msg),
    )  # fmt: skip


# ---------------------------------------------------------------------- cases


@dataclass(frozen=True)
class SessionCase:
    """After a start at these rates: messages, then maybe one that ends the connection."""

    input_rate: int
    output_rate: int
    messages: tuple[Msg, ...]
    last: tuple[Msg, int] | None  # (message, the close code it gets)


@st.composite
def session_cases(draw: st.DrawFn) -> SessionCase:
    input_rate, output_rate = draw(rates), draw(rates)
    # At most 8: the server answers 10 bad messages a second, and drops the rest unanswered.
    messages = draw(st.lists(session_messages(frame_bytes(input_rate)), max_size=8))
    last = draw(st.none() | st.none() | terminal)
    return SessionCase(input_rate, output_rate, tuple(messages), last)


@dataclass(frozen=True)
class HandshakeCase:
    """Messages up to and including the first one that ends the handshake, if any."""

    messages: tuple[Msg, ...]
    last: tuple[Msg, int] | None  # a message that ends the connection, instead of a start


@st.composite
def handshake_cases(draw: st.DrawFn) -> HandshakeCase:
    messages: list[Msg] = []
    for msg in [*draw(st.lists(handshake_messages(), max_size=6)), Msg(draw(starts()))]:
        messages.append(msg)
        if before_start(msg)[0] in ("started", "bad_sample_rate"):
            break
    last = None
    if before_start(messages[-1])[0] not in ("started", "bad_sample_rate"):
        last = draw(st.none() | terminal)  # None: the client goes away mid-handshake
    return HandshakeCase(tuple(messages), last)
