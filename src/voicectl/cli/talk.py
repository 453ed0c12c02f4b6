"""``voicectl talk``: a duplex conversation from files, text or synthesized turns."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import soxr
import typer

from voicectl.audio.wav import read_wav, write_wav
from voicectl.cli.common import Exit, console, err_console, fail, print_json
from voicectl.observability.logging import setup_logging
from voicectl.orchestrator.config import OrchestratorConfigError, load_orchestrator_config
from voicectl.orchestrator.server import Orchestrator
from voicectl.talk.client import Event, TalkClient
from voicectl.talk.runner import TalkResult, run_talk, user_speech

HELP = """Talk to the agent: your turn goes in, its spoken reply comes back.

With no --url an orchestrator and a worker run in this process on the default
models (Piper voice, tiny.en ASR, echo LLM). Without an audio device, give the
user's turn as a file (--input), as text to speak (--say) or as typed text (--text).

Example: voicectl talk --say "What is the weather like today?" --output session.wav
"""


def _printer(event: Event) -> None:
    kind = event.get("type")
    if kind == "transcript.partial":
        err_console.print(f"[dim]  … {event['text']}[/]")
    elif kind == "transcript.final" and event.get("text"):
        console.print(f"[bold cyan]you:[/] {event['text']}")
    elif kind in ("reply.paused", "reply.resumed", "reply.stopped"):
        console.print(f"[yellow]\\[barge-in] {kind.removeprefix('reply.')}[/]")
    elif kind == "error":
        console.print(f"[red]error ({event.get('code')}):[/] {event.get('message')}")


async def _talk(
    *, url: str | None, worker: str | None, config: Path | None, input_wav: Path | None,
    say: str | None, text: str | None, interrupt: str | None, interrupt_after: float,
    output: Path | None, rate: int, quiet: bool,
) -> TalkResult:  # fmt: skip
    orchestrator: Orchestrator | None = None
    if url is None:
        settings = replace(load_orchestrator_config(config), ws_port=0)
        if worker:
            settings = replace(settings, worker=worker)
        orchestrator = Orchestrator(settings)
        with err_console.status("starting an embedded worker and orchestrator…"):
            await orchestrator.start()
        url = orchestrator.address
    try:
        user_audio = None
        if input_wav is not None:
            audio, wav_rate = read_wav(input_wav)
            if wav_rate != rate:
                audio = soxr.resample(audio, wav_rate, rate).astype("int16")
            user_audio = audio
        elif say is not None:
            user_audio = await user_speech(say, rate)
        interrupt_audio = await user_speech(interrupt, rate) if interrupt else None
        async with TalkClient(url, input_sample_rate=rate, output_sample_rate=rate) as talk:
            result = await run_talk(
                talk,
                user_audio=user_audio,
                text=text,
                interrupt_audio=interrupt_audio,
                interrupt_after_s=interrupt_after,
                on_event=None if quiet else _printer,
            )
    finally:
        if orchestrator is not None:
            await orchestrator.stop()
    if output is not None:
        write_wav(output, result.output_samples, rate)
    return result


def talk_command(
    url: str | None = typer.Option(None, help="ws://HOST:PORT of a running orchestrator."),
    worker: str | None = typer.Option(None, help="HOST:PORT of a worker for the embedded one."),
    config: Path | None = typer.Option(None, "--config", "-c", help="orchestrator.yaml"),
    input_wav: Path | None = typer.Option(None, "--input", "-i", help="WAV of the user's side."),
    say: str | None = typer.Option(None, help="Speak this as the user's turn."),
    text: str | None = typer.Option(None, help="Type this as the user's turn."),
    interrupt: str | None = typer.Option(None, help="Speak this over the reply (barge-in)."),
    interrupt_after: float = typer.Option(1.0, help="Seconds into the reply to interrupt."),
    output: Path | None = typer.Option(None, "--output", "-o", help="WAV of what you'd hear."),
    rate: int = typer.Option(16000, help="Sample rate of both directions, Hz."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    log_level: str = typer.Option("warning", help="debug, info, warning or error."),
) -> None:
    setup_logging(log_level)
    if input_wav is None and say is None and text is None:
        fail(
            "no audio device mode in this build; give the user's turn with --input FILE.wav, "
            '--say "TEXT" or --text "TEXT"',
            Exit.USAGE,
        )
    if input_wav is not None and not input_wav.is_file():
        fail(f"--input {input_wav} does not exist", Exit.USAGE)
    try:
        result = asyncio.run(_talk(
            url=url, worker=worker, config=config, input_wav=input_wav, say=say, text=text,
            interrupt=interrupt, interrupt_after=interrupt_after, output=output, rate=rate,
            quiet=json_out,
        ))  # fmt: skip
    except OrchestratorConfigError as exc:
        fail(str(exc), Exit.USAGE)
    except (OSError, ConnectionError) as exc:
        fail(f"cannot reach the orchestrator: {exc}", Exit.UNAVAILABLE)
    except TimeoutError as exc:
        fail(str(exc), Exit.FAILURE)
    summary = {
        "transcripts": result.transcripts, "replies": result.replies, "events": result.events,
        "barge_ins": result.barge_ins, "seconds": result.seconds,
        "output": str(output) if output else None,
    }  # fmt: skip
    if json_out:
        print_json(summary)
    else:
        for reply in result.replies:
            console.print(f"[bold green]agent:[/] {reply}")
        if output is not None:
            console.print(f"wrote [bold]{output}[/] ({result.seconds} s)")
