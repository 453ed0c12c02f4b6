"""``voicectl bench bargein|e2e|turns|jitter|asr|load|rtf``: conversation benchmarks.

They run against an embedded orchestrator (and worker) by default, or a running
orchestrator with ``--url`` (server-side figures then come from its /metrics).
Every command prints a rich table, or JSON with ``--json``; a missed target exits 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from voicectl.bench.conversation import (
    TRANSPORTS,
    ConversationBenchConfig,
    run_bargein,
    run_jitter,
)
from voicectl.bench.fal import FalConfig, run_fal
from voicectl.bench.load import run_asr, run_load
from voicectl.bench.recordings import Recording, RecordingError, load_recording
from voicectl.bench.spoken import run_e2e
from voicectl.bench.turns import run_turns
from voicectl.cli.common import (
    CONNECT_ANY_HELP,
    LOG_LEVEL_HELP,
    QUIET,
    VERBOSE,
    Exit,
    check_orchestrator,
    check_worker,
    console,
    err_console,
    fail,
    print_json,
    start_logging,
)
from voicectl.livekit_tokens import LiveKitConfigError, LiveKitCredentials
from voicectl.orchestrator.config import LiveKitSettings, OrchestratorConfig
from voicectl.rpc.client import TTSClient
from voicectl.talk.client import HandshakeRefused
from voicectl.talk.clients import transport_of
from voicectl.talk.user_audio import UserAudioError
from voicectl.worker.config import load_worker_config
from voicectl.worker.server import Worker

T = TypeVar("T")
PARAGRAPH = (
    "The old lighthouse stood at the edge of the cliff. Every night its keeper climbed the "
    "spiral stairs, trimmed the wick and watched the beam sweep across the water. Ships "
    "passed safely, and nobody on board ever knew his name."
)


def _config(
    url: str | None, worker: str | None, model: str, runs: int, connect_timeout: float = 10.0,
    transport: str | None = None, *, webrtc: bool = False,
) -> ConversationBenchConfig:  # fmt: skip
    """``webrtc``: this bench also runs over WebRTC (e2e, bargein); ``transport`` is then
    the embedded orchestrator's, and a URL's own scheme says which one it speaks."""
    if transport is not None and transport not in TRANSPORTS:
        fail(f"--transport {transport!r}: use websocket, webrtc or livekit", Exit.USAGE)
    if url is not None:
        if transport is not None and transport_of(url) != transport:
            fail(f"--url {url!r} speaks {transport_of(url)}, not {transport}: leave "
                 "--transport out with --url", Exit.USAGE)  # fmt: skip
        check_orchestrator(url, timeout=connect_timeout, webrtc=webrtc)
    livekit = LiveKitSettings()
    if transport == "livekit" and url is None:
        try:  # the embedded orchestrator joins this server as its agent
            found = LiveKitCredentials.resolve("")
        except LiveKitConfigError as exc:
            fail(f"--transport livekit: {exc}", Exit.USAGE)
        livekit = LiveKitSettings(url=found.url, api_key=found.api_key,
                                  api_secret=found.api_secret)  # fmt: skip
    if worker is not None:
        check_worker(worker, timeout=connect_timeout)
    return ConversationBenchConfig(
        runs=runs,
        url=url,
        orchestrator=OrchestratorConfig(worker=worker or "", model_id=model, livekit=livekit),
        transport=transport or "websocket",
    )


def _run(work: Callable[[Callable[[float], None]], Awaitable[T]], total: float, label: str) -> T:
    progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err_console)  # fmt: skip

    async def main() -> T:
        with progress:
            task = progress.add_task(label, total=total)
            return await work(lambda done: progress.update(task, completed=done))

    try:
        return asyncio.run(main())
    except UserAudioError as exc:  # a scenario's, or espeak-ng missing
        fail(str(exc), Exit.USAGE)
    except TimeoutError as exc:
        fail(str(exc), Exit.FAILURE)
    except HandshakeRefused as exc:
        fail(escape(str(exc)), Exit.REJECTED)
    except (OSError, ConnectionError) as exc:
        fail(f"cannot reach the orchestrator or worker: {exc}", Exit.UNAVAILABLE)


def _show(report: dict[str, Any], json_out: bool, title: str) -> None:
    if json_out:
        print_json(report)
        return
    table = Table(title=title, header_style="bold")
    table.add_column("metric")
    for column in ("p50", "p95", "max", "mean"):
        table.add_column(column, justify="right")
    extras = []
    for key, value in report.items():
        if isinstance(value, dict) and "p95" in value:
            table.add_row(key, *(f"{value[c]:g}" for c in ("p50", "p95", "max", "mean")))
        elif key not in ("machine", "bench") and not isinstance(value, dict | list):
            extras.append(f"{key}={value}")
    machine = report["machine"]
    table.caption = ", ".join(extras) + (
        f"\n{machine['cpu_count']} CPUs, {machine['platform']}, Python {machine['python']}"
    )
    console.print(table)


URL = typer.Option(None, help="ws://HOST:PORT of a running orchestrator (default: embedded).")
WORKER = typer.Option(None, help="HOST:PORT of a worker for the embedded orchestrator.")
MODEL = typer.Option("", help="Model of the replies (default: the worker's).")
JSON = typer.Option(False, "--json", help="Print a JSON report.")
LOG = typer.Option("warning", help=LOG_LEVEL_HELP)
CONNECT = typer.Option(10.0, help=CONNECT_ANY_HELP)
TRANSPORT = typer.Option(
    None,
    help="websocket (default), webrtc or livekit: how the client talks to the embedded "
    "orchestrator (webrtc: an aiortc peer on its --web endpoint; livekit: a room on the "
    "LiveKit server of LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET). A --url's "
    "scheme decides on its own.",
)
URL_RTC = typer.Option(
    None, help="ws://HOST:PORT of a running orchestrator, http://HOST:PORT of its --web "
    "endpoint (WebRTC), or livekit://HOST:PORT/ of the LiveKit server it serves "
    "(default: embedded).",
)  # fmt: skip


def _recordings(inputs: list[Path], references: list[str] | None = None) -> list[Recording]:
    """Decode every --input before anything starts: a bad file is a usage error."""
    if references and len(references) != len(inputs):
        fail(f"--reference: give one per --input ({len(inputs)}), got {len(references)}",
             Exit.USAGE)  # fmt: skip
    try:
        return [load_recording(path, reference=references[i] if references else None)
                for i, path in enumerate(inputs)]  # fmt: skip
    except RecordingError as exc:
        fail(escape(str(exc)), Exit.USAGE)


def bargein_command(
    runs: int = typer.Option(10, min=2, help="Runs; odd ones interrupt with a noise burst."),
    input_file: Path | None = typer.Option(
        None, "--input", help="Recording to interrupt with (WAV, FLAC, MP3...); default espeak-ng."
    ),
    url: str | None = URL_RTC, worker: str | None = WORKER, model: str = MODEL,
    transport: str | None = TRANSPORT,
    json_out: bool = JSON,
    log_level: str = LOG, quiet: bool = QUIET, verbose: bool = VERBOSE,
    connect_timeout: float = CONNECT,
) -> None:  # fmt: skip
    """Barge-in latency: speech onset in the input -> last reply frame sent (server) and ->
    playback stopped (client); false-pause and false-stop rates on noise bursts.
    Target: p95 < 40 ms.

    Over WebRTC the client figure is onset -> the reply track falls silent at the client.

    Example: voicectl bench bargein --runs 10 --json
    """
    start_logging(log_level, quiet=quiet, verbose=verbose)
    cfg = _config(url, worker, model, runs, connect_timeout, transport, webrtc=True)
    speech = _recordings([input_file])[0].speech if input_file is not None else None
    report = _run(lambda tick: run_bargein(cfg, interruption=speech, progress=tick), runs,
                  "barge-in")  # fmt: skip
    _show(report.to_dict(), json_out, "barge-in latency (ms)")


def e2e_command(
    runs: int = typer.Option(10, min=1, help="Spoken questions (per --input)."),
    inputs: list[Path] = typer.Option(
        [], "--input", help="Recorded question (WAV, FLAC, MP3...), repeatable; default espeak-ng."
    ),
    url: str | None = URL_RTC, worker: str | None = WORKER, model: str = MODEL,
    transport: str | None = TRANSPORT,
    json_out: bool = JSON,
    log_level: str = LOG, quiet: bool = QUIET, verbose: bool = VERBOSE,
    connect_timeout: float = CONNECT,
) -> None:  # fmt: skip
    """Voice-to-voice: end of the user's speech -> first reply frame at the client
    (echo LLM). Target: p95 < 400 ms.

    Over WebRTC the client figure ends at the first reply audio the client hears.

    Example: voicectl bench e2e --runs 10 --json
    """
    start_logging(log_level, quiet=quiet, verbose=verbose)
    cfg = _config(url, worker, model, runs, connect_timeout, transport, webrtc=True)
    speech = [rec.speech for rec in _recordings(inputs)]
    report = _run(lambda tick: run_e2e(cfg, speech=speech, progress=tick),
                  runs * max(1, len(speech)), "voice-to-voice")  # fmt: skip
    _show(report.to_dict(), json_out, "voice-to-voice latency (ms)")


def _turns_table(report: dict[str, Any]) -> Table:
    table = Table(title="real speech: turns, words, loops", header_style="bold")
    for column in ("input", "run", "turn", "transcript", "WER", "loops", "final ms", "reply ms"):
        table.add_column(column, justify="left" if column in ("input", "transcript") else "right")

    def num(value: object) -> str:
        return "-" if value is None else f"{value:g}"

    for result in report["results"]:
        per_run = [num(result["wer"]), str(result["loops"]), num(result["final_after_speech_ms"]),
                   num(result["voice_to_voice_ms"])]  # fmt: skip
        texts = result["transcripts"] or ["(nothing recognised)"]
        for index, text in enumerate(texts, start=1):
            cells = [result["input"], str(result["run"])] if index == 1 else ["", ""]
            turn = str(index) if result["transcripts"] else "0"
            table.add_row(*cells, turn, escape(text), *(per_run if index == 1 else []))
    final, reply = report["final_after_speech_ms"], report["voice_to_voice_ms"]
    table.caption = (
        f"single_turn_rate={report['single_turn_rate']}, wer_mean={report['wer_mean']}, "
        f"wer_max={report['wer_max']}, loops={report['loops']}, "
        f"max_compression_ratio={report['max_compression_ratio']}; end of speech -> final "
        f"p50/p95 {num(final and final['p50'])}/{num(final and final['p95'])} ms, -> reply "
        f"p50/p95 {num(reply and reply['p50'])}/{num(reply and reply['p95'])} ms"
    )
    return table


def turns_command(
    inputs: list[Path] = typer.Option(
        ..., "--input", help="Recording of real speech (WAV, FLAC, MP3...), repeatable."
    ),
    references: list[str] = typer.Option(
        [], "--reference",
        help="What was said, one per --input: the text, or a .txt file. Default: <input>.txt "
        "or the transcript column of README.md beside it.",
    ),
    runs: int = typer.Option(3, min=1, help="Runs per recording."),
    url: str | None = URL, worker: str | None = WORKER, model: str = MODEL,
    json_out: bool = JSON,
    log_level: str = LOG, quiet: bool = QUIET, verbose: bool = VERBOSE,
    connect_timeout: float = CONNECT,
) -> None:  # fmt: skip
    """Real speech heard by the orchestrator: each recording streamed in real time; the
    turns it took (1 = the sentence stayed whole), WER against the reference, Whisper
    repetition loops, and end of speech -> final transcript / first reply latencies.

    Example: voicectl bench turns --input ../shared/audio/jfk.flac --runs 3 --json
    """
    start_logging(log_level, quiet=quiet, verbose=verbose)
    cfg = _config(url, worker, model, runs, connect_timeout)
    recordings = _recordings(inputs, references)
    report = _run(lambda tick: run_turns(cfg, recordings, progress=tick),
                  runs * len(recordings), "turns").to_dict()  # fmt: skip
    if json_out:
        print_json(report)
    else:
        console.print(_turns_table(report))


def jitter_command(
    sessions: int = typer.Option(8, min=1, help="Concurrent sessions, one reply each."),
    worker: str | None = WORKER, model: str = MODEL, json_out: bool = JSON,
    log_level: str = LOG, quiet: bool = QUIET, verbose: bool = VERBOSE,
    connect_timeout: float = CONNECT,
) -> None:  # fmt: skip
    """Pacing jitter at the transport: how late each reply frame leaves the pacer, with N
    concurrent sessions (embedded orchestrator). Target: p95 < 2 ms.

    Example: voicectl bench jitter --sessions 8 --worker 127.0.0.1:50051 --json
    """
    start_logging(log_level, quiet=quiet, verbose=verbose)
    cfg = _config(None, worker, model, 1, connect_timeout)
    report = _run(lambda tick: run_jitter(cfg, sessions=sessions), 1, "jitter")
    _show(report.to_dict(), json_out, f"pacing lateness (ms), {sessions} sessions")


def asr_command(
    runs: int = typer.Option(5, min=1, help="Spoken questions."),
    url: str | None = URL, worker: str | None = WORKER, json_out: bool = JSON,
    log_level: str = LOG, quiet: bool = QUIET, verbose: bool = VERBOSE,
    connect_timeout: float = CONNECT,
) -> None:  # fmt: skip
    """ASR latency: end of the user's speech -> final transcript at the client.

    Example: voicectl bench asr --runs 5 --json
    """
    start_logging(log_level, quiet=quiet, verbose=verbose)
    cfg = _config(url, worker, "", runs, connect_timeout)
    report = _run(lambda tick: run_asr(cfg, progress=tick), runs, "asr")
    _show(report.to_dict(), json_out, "end of speech -> final transcript (ms)")


def load_command(
    sessions: int = typer.Option(16, min=1, help="Concurrent sessions."),
    seconds: float = typer.Option(20.0, min=1.0, help="How long every session keeps talking."),
    url: str | None = URL, worker: str | None = WORKER, model: str = MODEL,
    json_out: bool = JSON,
    log_level: str = LOG, quiet: bool = QUIET, verbose: bool = VERBOSE,
    connect_timeout: float = CONNECT,
) -> None:  # fmt: skip
    """Load: N sessions send turns back to back for T seconds; reply first-audio latency,
    underruns, CPU and RSS. Target: >= 16 Piper sessions on 2 cores without underrun.

    Example: voicectl bench load --sessions 16 --seconds 20 --worker 127.0.0.1:50051 --json
    """
    start_logging(log_level, quiet=quiet, verbose=verbose)
    cfg = _config(url, worker, model, 1, connect_timeout)
    report = _run(lambda tick: run_load(cfg, sessions=sessions, seconds=seconds, progress=tick),
                  seconds, "load")  # fmt: skip
    _show(report.to_dict(), json_out, f"load: {sessions} sessions for {seconds:g} s")


def rtf_command(
    runs: int = typer.Option(5, min=1, help="Paragraphs to synthesize."),
    worker: str | None = typer.Option(None, help="HOST:PORT of a worker (default: embedded)."),
    model: str = MODEL, json_out: bool = JSON,
    log_level: str = LOG, quiet: bool = QUIET, verbose: bool = VERBOSE,
    connect_timeout: float = CONNECT,
) -> None:  # fmt: skip
    """Real-time factor: generation wall time / audio duration for a paragraph.

    Example: voicectl bench rtf --model piper:en_US-joe-medium --runs 5 --json
    """
    start_logging(log_level, quiet=quiet, verbose=verbose)
    if worker is not None:
        check_worker(worker, timeout=connect_timeout)

    async def work(tick: Callable[[float], None]) -> dict[str, Any]:
        embedded = None
        target = worker
        if target is None:
            embedded = Worker(load_worker_config(cli={"port": 0, "ttl": "never"}))
            await embedded.start()
            target = embedded.address
        try:
            async with TTSClient(target) as client:
                await client.wait_ready(timeout=30 if embedded else connect_timeout)
                done = 0

                def advance(_: object) -> None:
                    nonlocal done
                    done += 1
                    tick(done)

                config = FalConfig(model_id=model, text=PARAGRAPH, runs=runs, warmup=1)
                fal = await run_fal(client, config, worker=target, on_run=advance)
        finally:
            if embedded is not None:
                await embedded.stop(grace=0)
        data = fal.to_dict()
        return {"bench": "rtf", "model_id": data["model_id"], "runs": runs, "rtf": data["rtf"],
                "first_audio_ms": data["first_audio_ms"], "machine": data["machine"]}  # fmt: skip

    report = _run(work, runs, "rtf")
    _show(report, json_out, "real-time factor")


def register(app: typer.Typer) -> None:
    for name, command in (("bargein", bargein_command), ("e2e", e2e_command),
                          ("turns", turns_command), ("jitter", jitter_command),
                          ("asr", asr_command), ("load", load_command),
                          ("rtf", rtf_command)):  # fmt: skip
        app.command(name)(command)
