"""First audio against a peer server: wyoming-piper on the same voice, in the same run.

Both servers run as their own processes on this machine: a ``voicectl worker`` and
``python -m wyoming_piper`` (the ``peer`` extra) with the same Piper voice files. For
each text both are measured in turns, the order swapped every run so neither always
goes first, with an idle gap between runs: a server's inference threads can spin for
a moment after a request (onnxruntime's default), which would bill one server for
the other's. The clock starts when the text is handed to the socket (gRPC stream or
Wyoming ``synthesize`` event) and stops at the first chunk of audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from voicectl.bench.fal import BenchError, RunResult, machine_info, measure_once
from voicectl.bench.stats import Summary
from voicectl.rpc.client import SynthesisRequest, TTSClient

# The texts of issue 16: short replies, then first sentences of 6+ words.
SUITE = (
    "Sure.",
    "Okay. I set a timer for fifteen minutes.",
    "Hello there, how can I help you today?",
    "The quick brown fox jumps over the lazy dog, and then it runs away into the forest.",
    "I found three Italian restaurants within a mile of you that are still open tonight.",
    "Your meeting with the design team has been moved from Tuesday afternoon to Wednesday "
    "morning at ten.",
)
LONG_FIRST_SENTENCE_WORDS = 6
TARGET_SHORT_RATIO = 0.9  # median voicectl / median peer, first sentence under 6 words
TARGET_LONG_RATIO = 0.35  # ... first sentence of 6+ words
TARGET_P95_MS = 60.0
START_TIMEOUT_S = 60.0


class PeerUnavailable(RuntimeError):
    """The peer cannot run here (not installed, or it did not start)."""


def first_sentence_words(text: str) -> int:
    """Words up to the first sentence end (., !, ?)."""
    words = text.split()
    for count, word in enumerate(words, start=1):
        if word.rstrip("\"')").endswith((".", "!", "?")):
            return count
    return len(words)


def target_ratio(text: str) -> float:
    long = first_sentence_words(text) >= LONG_FIRST_SENTENCE_WORDS
    return TARGET_LONG_RATIO if long else TARGET_SHORT_RATIO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_for_port(port: int, process: asyncio.subprocess.Process, name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise PeerUnavailable(f"{name} exited with code {process.returncode} at start")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        await asyncio.sleep(0.1)
    raise PeerUnavailable(f"{name} did not listen on port {port} within {START_TIMEOUT_S:.0f} s")


@contextlib.asynccontextmanager
async def process(command: Sequence[str], port: int, name: str) -> AsyncIterator[None]:
    """Run ``command`` until the block ends; ready once ``port`` accepts connections."""
    child = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await wait_for_port(port, child, name)
        yield
    finally:
        if child.returncode is None:
            child.terminate()
            try:
                await asyncio.wait_for(child.wait(), 10)
            except TimeoutError:
                child.kill()
                await child.wait()


def _link_voice(data: Path, voice: str, model: Path, config: Path) -> None:
    """wyoming-piper finds voices by file name in its data dir: link ours there."""
    (data / f"{voice}.onnx").symlink_to(model.resolve())
    (data / f"{voice}.onnx.json").symlink_to(config.resolve())


def require_wyoming() -> None:
    """PeerUnavailable, with the install command, when wyoming-piper is missing."""
    if importlib.util.find_spec("wyoming_piper") is None:
        raise PeerUnavailable(
            "wyoming-piper is not installed: uv sync --extra peer (or pip install wyoming-piper)"
        )


@contextlib.asynccontextmanager
async def wyoming_piper(model: Path, config: Path) -> AsyncIterator[int]:
    """wyoming-piper serving the voice in ``model``/``config``; yields its TCP port."""
    require_wyoming()
    voice = model.name.removesuffix(".onnx")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="voicectl-wyoming-") as data:
        _link_voice(Path(data), voice, model, config)
        command = [sys.executable, "-m", "wyoming_piper", "--voice", voice,
                   "--uri", f"tcp://127.0.0.1:{port}", "--data-dir", data]  # fmt: skip
        async with process(command, port, "wyoming-piper"):
            yield port


async def measure_wyoming_once(port: int, text: str) -> RunResult:
    """One Wyoming ``synthesize`` on a fresh connection, as Wyoming clients do."""
    from wyoming.audio import AudioChunk, AudioStop
    from wyoming.client import AsyncTcpClient
    from wyoming.tts import Synthesize

    async with AsyncTcpClient("127.0.0.1", port) as client:
        sent = time.perf_counter()
        await client.write_event(Synthesize(text=text).event())
        first: float | None = None
        samples = chunks = rate = 0
        while (event := await client.read_event()) is not None:
            if AudioChunk.is_type(event.type):
                chunk = AudioChunk.from_event(event)
                if first is None and chunk.audio:
                    first = time.perf_counter()
                samples += len(chunk.audio) // (chunk.width * chunk.channels)
                chunks += 1
                rate = chunk.rate
            elif AudioStop.is_type(event.type):
                break
    ended = time.perf_counter()
    if first is None or not rate:
        raise BenchError(f"wyoming-piper sent no audio for {text!r}")
    return RunResult(first_audio_s=first - sent, wall_s=ended - sent, audio_s=samples / rate,
                     frames=chunks, sample_rate=rate)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class TextComparison:
    text: str
    voicectl: list[RunResult]
    peer: list[RunResult]

    @property
    def ratio(self) -> float:
        """Median first audio, voicectl over the peer (< 1: voicectl is sooner)."""
        return self.ms(self.voicectl).p50 / self.ms(self.peer).p50

    @staticmethod
    def ms(results: list[RunResult]) -> Summary:
        return Summary.of([r.first_audio_s for r in results]).scaled(1000.0)

    @property
    def target_ratio(self) -> float:
        return target_ratio(self.text)

    @property
    def meets_target(self) -> bool:
        return self.ratio <= self.target_ratio and self.ms(self.voicectl).p95 < TARGET_P95_MS

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "first_sentence_words": first_sentence_words(self.text),
            "voicectl_ms": self.ms(self.voicectl).to_dict(1),
            "peer_ms": self.ms(self.peer).to_dict(1),
            "ratio_p50": round(self.ratio, 3),
            "target_ratio": self.target_ratio,
            "meets_target": self.meets_target,
        }


@dataclass(frozen=True, kw_only=True)
class PeerReport:
    model_id: str
    worker: str
    peer: str
    runs: int
    warmup: int
    gap_ms: float
    texts: list[TextComparison]
    machine: dict[str, object] = field(default_factory=machine_info)

    @property
    def meets_target(self) -> bool:
        return all(t.meets_target for t in self.texts)

    def to_dict(self) -> dict[str, object]:
        return {
            "bench": "fal-peer",
            "model_id": self.model_id,
            "worker": self.worker,
            "peer": self.peer,
            "runs": self.runs,
            "warmup": self.warmup,
            "gap_ms": self.gap_ms,
            "texts": [t.to_dict() for t in self.texts],
            "target_p95_ms": TARGET_P95_MS,
            "meets_target": self.meets_target,
            "machine": self.machine,
        }


async def compare(
    client: TTSClient,
    request: SynthesisRequest,
    peer_port: int,
    *,
    texts: Sequence[str],
    runs: int,
    warmup: int,
    gap_s: float,
    on_run: Callable[[str], None] | None = None,
) -> list[TextComparison]:
    """One unmeasured run of every text on each server (freshly started servers pay for
    first runs once, not in the first text's figures), then for each text ``warmup``
    unmeasured runs of each and ``runs`` measured pairs."""
    for text in texts:
        await asyncio.sleep(gap_s)
        await measure_once(client, request, text)
        await asyncio.sleep(gap_s)
        await measure_wyoming_once(peer_port, text)
    out: list[TextComparison] = []
    for text in texts:
        ours: list[RunResult] = []
        theirs: list[RunResult] = []
        for index in range(warmup + runs):
            order = ("voicectl", "peer") if index % 2 == 0 else ("peer", "voicectl")
            for side in order:
                await asyncio.sleep(gap_s)
                if side == "voicectl":
                    result = await measure_once(client, request, text)
                    target = ours
                else:
                    result = await measure_wyoming_once(peer_port, text)
                    target = theirs
                if index >= warmup:
                    target.append(result)
            if on_run is not None:
                on_run(text)
        out.append(TextComparison(text=text, voicectl=ours, peer=theirs))
    return out
