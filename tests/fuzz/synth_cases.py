"""Hypothesis strategies for Synthesize request streams, each with the outcome it must get.

A case is a valid stream (random config, random printable text, `end` or a half-close)
with at most one fault applied to it, so the expected status and the words of its
message follow from the fault alone (docs/protocol.md, §6). ``garbage`` (random bytes as
a request) has no single expected outcome: only the suite's general property holds.
Requests are serialized here, so a case can carry bytes protobuf would refuse to build
(strings that are not UTF-8).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, replace
from typing import Any

import grpc
from hypothesis import strategies as st

from voicectl.audio.frames import SUPPORTED_SAMPLE_RATES
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.worker.validation import (
    LOOKAHEAD_MS_RANGE,
    MAX_CHUNK_CHARS,
    MAX_SESSION_CHARS,
    SPEED_RANGE,
    TARGET_DBFS_RANGE,
)

MODELS = ("mock:fast", "mock:sine")  # mock:slow is the canary's
VOICES = ("default", "low", "high")
NATIVE_RATE = 24000
ID_CHARS = string.ascii_letters + string.digits + "._:-"
UINT32 = st.integers(0, 2**32 - 1)
# C0 and C1 controls the worker refuses (tab, newline and carriage return are text).
CONTROLS = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20),
                             *range(0x7F, 0xA0))]  # fmt: skip
# Not UTF-8: a lone byte, an overlong NUL, an encoded surrogate, a truncated sequence,
# a code point past U+10FFFF, a stray continuation byte.
NOT_UTF8 = (b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\x80")

# Every status a bad stream may get; anything else (INTERNAL, UNKNOWN, CANCELLED...) is a bug.
CLIENT_ERRORS = frozenset({
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND,
})  # fmt: skip
OK = None  # the stream completes with a final frame


@dataclass(frozen=True)
class StreamCase:
    """Serialized requests, and what the worker must answer them with."""

    fault: str
    requests: tuple[bytes, ...]
    outcomes: frozenset[grpc.StatusCode | None]
    words: str = ""  # in the status message when it fails
    rate: int = NATIVE_RATE  # of the frames when it completes
    session_id: str = ""  # echoed in the frames; "" = the worker assigns one

    def __repr__(self) -> str:  # what hypothesis prints for a failing example: kept short
        shown = [r[:60] + (b"..." if len(r) > 60 else b"") for r in self.requests[:8]]
        more = f" +{len(self.requests) - 8} more" if len(self.requests) > 8 else ""
        expected = sorted("OK" if o is None else o.name for o in self.outcomes)
        return f"StreamCase({self.fault}: {shown}{more} -> {expected} {self.words!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's printer
        printer.text(repr(self))


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field_bytes(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, whatever the payload's bytes."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def text_request(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return field_bytes(2, field_bytes(1, raw))  # SynthesizeRequest.text.text


END = pb.SynthesizeRequest(end=pb.EndOfInput()).SerializeToString()
NO_PAYLOAD = b""  # a SynthesizeRequest with nothing set


@dataclass(frozen=True)
class Config:
    session_id: str = ""
    model_id: str = ""
    voice: str = ""
    sample_rate: int = 0
    speed: float = 0.0
    target_rms_dbfs: float = 0.0
    lookahead_ms: int = 0

    def request(self) -> bytes:
        options = pb.SynthesisOptions(
            speed=self.speed, target_rms_dbfs=self.target_rms_dbfs, lookahead_ms=self.lookahead_ms
        )
        config = pb.SessionConfig(
            session_id=self.session_id, model_id=self.model_id, voice=self.voice,
            sample_rate=self.sample_rate, options=options,
        )  # fmt: skip
        return pb.SynthesizeRequest(config=config).SerializeToString()


# ------------------------------------------------------------------ valid parts


def f32(**kwargs: float) -> st.SearchStrategy[float]:
    return st.floats(width=32, **kwargs)  # type: ignore[arg-type]


valid_configs = st.builds(
    Config,
    session_id=st.one_of(st.just(""), st.text(ID_CHARS, min_size=1, max_size=128)),
    model_id=st.sampled_from(("", *MODELS)),
    voice=st.sampled_from(("", *VOICES)),
    sample_rate=st.sampled_from((0, *SUPPORTED_SAMPLE_RATES)),
    speed=st.one_of(st.just(0.0), f32(min_value=SPEED_RANGE[0], max_value=SPEED_RANGE[1])),
    target_rms_dbfs=st.one_of(
        st.just(0.0), f32(min_value=TARGET_DBFS_RANGE[0], max_value=TARGET_DBFS_RANGE[1])
    ),
    lookahead_ms=st.one_of(st.just(0), st.integers(*LOOKAHEAD_MS_RANGE)),
)
# Printable text of any script, plus tab/newline/CR; no controls, no surrogates.
printable = st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t\n\r ")
chunks = st.text(printable, min_size=1, max_size=40)
speakable_text = st.lists(chunks, min_size=1, max_size=4).filter(
    lambda parts: any(not part.isspace() for part in parts)
)


def valid_stream(config: Config, texts: list[str], *, end: bool) -> list[bytes]:
    return [config.request(), *(text_request(t) for t in texts), *([END] if end else [])]


def completes(config: Config, requests: list[bytes], fault: str = "none") -> StreamCase:
    return StreamCase(
        fault, tuple(requests), frozenset({OK}),
        rate=config.sample_rate or NATIVE_RATE, session_id=config.session_id,
    )  # fmt: skip


def fails(fault: str, requests: list[bytes], code: grpc.StatusCode, words: str) -> StreamCase:
    return StreamCase(fault, tuple(requests), frozenset({code}), words)


# ---------------------------------------------------------------- config faults


def bad_floats(low: float, high: float) -> st.SearchStrategy[float]:
    """float32 values outside low..high other than 0 (which means "default"), NaN and inf."""
    return f32(allow_nan=True, allow_infinity=True).filter(
        lambda v: v != 0 and not (low <= v <= high)
    )


CONFIG_FAULTS: dict[str, tuple[str, st.SearchStrategy[object], grpc.StatusCode, str]] = {
    "bad-session-id": ("session_id", st.one_of(
        st.sampled_from(["a\n", "a b", "\u00fc", "x" * 129, "id/1", "a\t"]),
        st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200),
    ).filter(lambda v: not _is_id(v)), grpc.StatusCode.INVALID_ARGUMENT, "config.session_id"),
    "unknown-voice": ("voice", st.text(st.characters(blacklist_categories=("Cs",)), min_size=1,
                      max_size=200).filter(lambda v: v not in VOICES),
                      grpc.StatusCode.INVALID_ARGUMENT, "config.voice"),
    "unknown-model": ("model_id", st.text(st.characters(blacklist_categories=("Cs",)),
                      min_size=1, max_size=200).filter(lambda v: v not in ("mock:slow", *MODELS)),
                      grpc.StatusCode.NOT_FOUND, "unknown model_id"),
    "bad-rate": ("sample_rate", UINT32.filter(lambda r: r and r not in SUPPORTED_SAMPLE_RATES),
                 grpc.StatusCode.INVALID_ARGUMENT, "config.sample_rate"),
    "bad-speed": ("speed", bad_floats(*SPEED_RANGE), grpc.StatusCode.INVALID_ARGUMENT,
                  "config.options.speed"),
    "bad-loudness": ("target_rms_dbfs", bad_floats(*TARGET_DBFS_RANGE),
                     grpc.StatusCode.INVALID_ARGUMENT, "config.options.target_rms_dbfs"),
    "bad-lookahead": ("lookahead_ms", UINT32.filter(
        lambda v: v and not LOOKAHEAD_MS_RANGE[0] <= v <= LOOKAHEAD_MS_RANGE[1]),
        grpc.StatusCode.INVALID_ARGUMENT, "config.options.lookahead_ms"),
}  # fmt: skip


def _is_id(value: str) -> bool:
    return 1 <= len(value) <= 128 and all(c in ID_CHARS for c in value)


# ------------------------------------------------------------------- the cases

FAULTS = (
    "none", "long-word", "no-config", "empty-stream", "config-twice", "empty-chunk",
    "no-payload", "control-char", "not-utf8-text", "not-utf8-config", "chunk-too-long",
    "session-too-long", "blank-only", "end-first", "after-end", "garbage", *CONFIG_FAULTS,
)  # fmt: skip


@st.composite
def stream_cases(draw: st.DrawFn, fault: str) -> StreamCase:
    """``fault`` (or "none") applied to a random valid stream."""
    config = draw(valid_configs)
    texts = draw(speakable_text)
    end = draw(st.booleans())  # False: the client half-closes instead, which also ends
    stream = valid_stream(config, texts, end=end)
    body = len(stream) - (1 if end else 0)  # where a request may go before the end
    anywhere_inside = st.integers(1, body)
    invalid, order = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION

    if fault == "none":
        return completes(config, stream)
    if fault == "long-word":  # valid: one word of up to a whole chunk
        word = draw(st.text(string.ascii_letters, min_size=300, max_size=MAX_CHUNK_CHARS))
        return completes(config, valid_stream(config, [word], end=end), fault)
    if fault == "no-config":
        return fails(fault, stream[1:], order, "the first SynthesizeRequest must carry config")
    if fault == "empty-stream":
        return fails(fault, [], invalid, "empty Synthesize stream")
    if fault in ("config-twice", "no-payload", "empty-chunk"):
        extra = {"config-twice": draw(valid_configs).request(), "no-payload": NO_PAYLOAD,
                 "empty-chunk": text_request("")}[fault]  # fmt: skip
        stream.insert(draw(anywhere_inside), extra)
        code, words = {"config-twice": (order, "config sent twice"),
                       "no-payload": (invalid, "no payload"),
                       "empty-chunk": (invalid, "text.text is empty")}[fault]  # fmt: skip
        return fails(fault, stream, code, words)
    if fault == "control-char":
        index = draw(st.integers(0, len(texts) - 1))
        offset = draw(st.integers(0, len(texts[index])))
        char = draw(st.sampled_from(CONTROLS))
        texts[index] = texts[index][:offset] + char + texts[index][offset:]
        return fails(fault, valid_stream(config, texts, end=end), invalid,
                     f"control character U+{ord(char):04X} at offset {offset}")  # fmt: skip
    if fault == "not-utf8-text":
        bad = draw(st.sampled_from(NOT_UTF8))
        stream.insert(draw(anywhere_inside), text_request(b"ok " + bad + b" ok"))
        return fails(fault, stream, invalid, "not valid UTF-8")
    if fault == "not-utf8-config":
        number = draw(st.sampled_from((1, 2, 3)))  # session_id, model_id, voice
        stream[0] = field_bytes(1, field_bytes(number, b"x" + draw(st.sampled_from(NOT_UTF8))))
        return fails(fault, stream, invalid, "not valid UTF-8")
    if fault == "chunk-too-long":
        size = draw(st.integers(MAX_CHUNK_CHARS + 1, MAX_CHUNK_CHARS + 2000))
        stream.insert(draw(anywhere_inside), text_request("ab " * (size // 3) + "a" * (size % 3)))
        return fails(fault, stream, invalid, f"text.text has {size} characters")
    if fault == "session-too-long":
        full = "word " * (MAX_CHUNK_CHARS // 5)
        count = MAX_SESSION_CHARS // len(full) + 1
        return fails(fault, valid_stream(config, [full] * count, end=end), invalid,
                     f"session text exceeds {MAX_SESSION_CHARS}")  # fmt: skip
    if fault == "blank-only":
        blanks = draw(st.lists(st.text(" \t\n\r\u3000\u2028", min_size=1, max_size=8),
                               min_size=1, max_size=3))  # fmt: skip
        return fails(fault, valid_stream(config, blanks, end=end), invalid, "before any text")
    if fault == "end-first":
        return fails(fault, [config.request(), END], invalid, "before any text")
    if fault == "after-end":
        extra = draw(st.sampled_from([text_request("more"), END, NO_PAYLOAD, config.request()]))
        # Documented: FAILED_PRECONDITION "while the stream runs"; a stream that already
        # spoke its text and ended may complete first.
        return StreamCase(fault, (*valid_stream(config, texts, end=True), extra),
                          frozenset({order, OK}), "after end-of-input",
                          rate=config.sample_rate or NATIVE_RATE,
                          session_id=config.session_id)  # fmt: skip
    if fault == "garbage":
        junk = draw(st.binary(min_size=1, max_size=64))
        stream.insert(draw(st.integers(0, body)), junk)
        return StreamCase(fault, tuple(stream), CLIENT_ERRORS | {OK},
                          rate=config.sample_rate or NATIVE_RATE,
                          session_id=config.session_id)  # fmt: skip
    name, values, code, words = CONFIG_FAULTS[fault]
    value = draw(values)
    stream[0] = replace(config, **{name: value}).request()
    return fails(fault, stream, code, words)
