"""``voicectl talk``: a duplex conversation through the microphone and speaker, or from
files, text or synthesized turns."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import soxr
import typer
from rich.markup import escape

from voicectl.app import build_orchestrator
from voicectl.audio.decode import AudioDecodeError, decode_audio_file
from voicectl.audio.frames import SUPPORTED_SAMPLE_RATES, Int16Audio
from voicectl.audio.wav import write_wav
from voicectl.bench.scenario import Scenario, ScenarioError, load_scenario, render
from voicectl.cli.common import (
    CONNECT_ANY_HELP,
    LOG_LEVEL_HELP,
    QUIET,
    VERBOSE,
    Exit,
    check_orchestrator,
    check_worker,
    check_ws_url,
    console,
    err_console,
    fail,
    print_json,
    start_logging,
)
from voicectl.livekit_tokens import LiveKitConfigError
from voicectl.orchestrator import events as ev
from voicectl.orchestrator.config import OrchestratorConfigError, load_orchestrator_config
from voicectl.talk.aec import EchoCanceller, MissingAudioExtra
from voicectl.talk.client import HandshakeRefused, Received
from voicectl.talk.clients import talk_client
from voicectl.talk.devices import (
    DeviceError,
    DeviceName,
    DeviceNotFound,
    NoAudioDevice,
    SoundDeviceDuplex,
    check_devices,
    list_devices,
)
from voicectl.talk.live import LiveStats, run_live
from voicectl.talk.runner import TalkError, TalkResult, run_talk
from voicectl.talk.transcripts import add_final
from voicectl.talk.user_audio import user_speech

HELP = """Talk to the agent: your turn goes in, its spoken reply comes back.

With no --input/--say/--text, talk through the microphone and speaker (needs
`uv sync --extra audio`); echo cancellation keeps the agent from
interrupting itself on laptop speakers (--no-aec to turn it off). Without an audio
device, give the user's turn as a recording (--input: WAV, FLAC, MP3 or anything
ffmpeg decodes, any rate, mono or stereo), as text to speak (--say) or as typed
text (--text). With no --url an orchestrator and a worker run in this
process on the default models (Piper voice, tiny.en ASR, echo LLM).

Example: voicectl talk --say "What is the weather like today?" --output session.wav
Example: voicectl talk --url livekit://127.0.0.1:7880/demo --text "hello there"
"""
FILE_MODES = '--input FILE (WAV, FLAC, MP3...), --scenario FILE.yaml, --say "TEXT" or --text "TEXT"'


def _printer(received: Received[ev.ServerEvent]) -> None:
    event = received.event
    if isinstance(event, ev.TranscriptPartial):
        err_console.print(f"[dim]  … {event.text}[/]")
    elif isinstance(event, ev.TranscriptFinal) and event.text:
        carried_on = " (carried on)" if event.continues else ""
        console.print(f"[bold cyan]you{carried_on}:[/] {escape(event.text)}")
    elif isinstance(event, ev.ReplyPaused | ev.ReplyResumed | ev.ReplyStopped):
        console.print(f"[yellow]\\[barge-in] {event.type.removeprefix('reply.')}[/]")
    elif isinstance(event, ev.Error):
        console.print(f"[red]error ({event.code}):[/] {event.message}")


class _LivePrinter:
    """Transcript lines as they come, and each reply's text when it ends."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.transcripts: list[str] = []
        self.replies: list[str] = []
        self._reply: list[str] = []

    def __call__(self, received: Received[ev.ServerEvent]) -> None:
        if not self.quiet:
            _printer(received)
        event = received.event
        if isinstance(event, ev.TranscriptFinal):
            add_final(self.transcripts, event)
        elif isinstance(event, ev.ReplyText):
            self._reply.append(event.text)
        elif isinstance(event, ev.ReplyDone | ev.ReplyStopped) and self._reply:
            self.replies.append("".join(self._reply))
            if not self.quiet:
                console.print(f"[bold green]agent:[/] {escape(self.replies[-1])}")
            self._reply = []


@contextlib.asynccontextmanager
async def _orchestrator(
    url: str | None, worker: str | None, config: Path | None
) -> AsyncIterator[str]:
    """The orchestrator's ws:// URL: ``url``, or an embedded one run for the duration."""
    if url is not None:
        yield url
        return
    settings = replace(load_orchestrator_config(config), ws_port=0)
    if worker:
        settings = replace(settings, worker=worker)
    orchestrator = build_orchestrator(settings)
    try:
        with err_console.status("starting an embedded worker and orchestrator…"):
            await orchestrator.start()
        yield orchestrator.address
    finally:
        await orchestrator.stop()


async def _live(
    *, url: str | None, worker: str | None, config: Path | None, rate: int,
    devices: tuple[DeviceName, DeviceName], aec: EchoCanceller | None, printer: _LivePrinter,
    connect_timeout: float = 10.0, model_id: str = "", voice: str = "",
) -> LiveStats:  # fmt: skip
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with (
            _orchestrator(url, worker, config) as address,
            talk_client(
                address,
                input_sample_rate=rate,
                output_sample_rate=rate,
                open_timeout=connect_timeout,
                model_id=model_id,
                voice=voice,
            ) as talk,
        ):
            device = SoundDeviceDuplex(rate, input_device=devices[0], output_device=devices[1])
            echo = "echo cancellation on" if aec else "no echo cancellation"
            err_console.print(f"[bold]listening[/] ({rate} Hz, {echo}); Ctrl-C to stop")
            return await run_live(talk, device, aec=aec, stop=stop, on_event=printer)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _device(value: str | None) -> DeviceName:
    return int(value) if value is not None and value.isdigit() else value


def _list_devices(json_out: bool) -> None:
    try:
        devices = list_devices()
    except MissingAudioExtra as exc:
        fail(escape(str(exc)), Exit.USAGE)
    if json_out:
        print_json([vars(d) for d in devices])
        return
    if not devices:
        console.print(f"no audio devices found (PortAudio sees none); use {escape(FILE_MODES)}")
    for d in devices:
        marks = " ".join(m for m, on in (("default-in", d.default_input),
                                         ("default-out", d.default_output)) if on)  # fmt: skip
        console.print(f"{d.index:3d}  {escape(d.name)}  in={d.inputs} out={d.outputs} "
                      f"{d.default_sample_rate:g} Hz {marks}")  # fmt: skip


def _live_mode(
    *, url: str | None, worker: str | None, config: Path | None, rate: int,
    input_device: str | None, output_device: str | None, no_aec: bool, json_out: bool,
    connect_timeout: float = 10.0, model_id: str = "", voice: str = "",
) -> None:  # fmt: skip
    devices = (_device(input_device), _device(output_device))
    try:
        check_devices(*devices)
        aec = None if no_aec else EchoCanceller(rate)
    except MissingAudioExtra as exc:
        fail(escape(f"{exc}; or, without a microphone, give the user's turn with {FILE_MODES}"),
             Exit.USAGE)  # fmt: skip
    except NoAudioDevice as exc:
        fail(escape(f"{exc}; without a microphone, give the user's turn with {FILE_MODES}"),
             Exit.USAGE)  # fmt: skip
    except DeviceNotFound as exc:
        fail(f"{escape(str(exc))} (see voicectl talk --list-devices)", Exit.NOT_FOUND)
    except ValueError as exc:  # a rate the echo canceller cannot split into 10 ms
        fail(f"{exc}; or use --no-aec", Exit.USAGE)
    printer = _LivePrinter(quiet=json_out)
    try:
        stats = asyncio.run(_live(url=url, worker=worker, config=config, rate=rate,
                                  devices=devices, aec=aec, printer=printer,
                                  connect_timeout=connect_timeout, model_id=model_id,
                                  voice=voice))  # fmt: skip
    except OrchestratorConfigError as exc:
        fail(str(exc), Exit.USAGE)
    except DeviceError as exc:
        fail(escape(str(exc)), Exit.UNAVAILABLE)
    except HandshakeRefused as exc:
        fail(escape(str(exc)), Exit.REJECTED)
    except LiveKitConfigError as exc:  # livekit://: no credentials, or no livekit extra
        fail(str(exc), Exit.USAGE)
    except (OSError, ConnectionError) as exc:
        fail(f"cannot reach the orchestrator: {exc}", Exit.UNAVAILABLE)
    if json_out:
        print_json({"transcripts": printer.transcripts, "replies": printer.replies,
                    **vars(stats)})  # fmt: skip


async def _talk(
    *, url: str | None, worker: str | None, config: Path | None, input_audio: Int16Audio | None,
    say: str | None, text: str | None, interrupt: str | None, interrupt_after: float,
    output: Path | None, rate: int, quiet: bool, scenario: Scenario | None = None,
    interrupt_input: Int16Audio | None = None, connect_timeout: float = 10.0,
    model_id: str = "", voice: str = "",
) -> TalkResult:  # fmt: skip
    async with _orchestrator(url, worker, config) as address:
        user_audio = input_audio  # decoded at --rate before anything started
        if user_audio is None and scenario is not None:
            audio = await asyncio.to_thread(render, scenario)
            if scenario.sample_rate != rate:
                audio = soxr.resample(audio, scenario.sample_rate, rate).astype("int16")
            user_audio = audio
        elif user_audio is None and say is not None:
            user_audio = await user_speech(say, rate)
        interrupt_audio = interrupt_input  # decoded at --rate before anything started
        if interrupt_audio is None and interrupt:
            interrupt_audio = await user_speech(interrupt, rate)
        async with talk_client(
            address, input_sample_rate=rate, output_sample_rate=rate,
            open_timeout=connect_timeout, model_id=model_id, voice=voice,
        ) as talk:  # fmt: skip
            result = await run_talk(
                talk,
                user_audio=user_audio,
                text=text,
                interrupt_audio=interrupt_audio,
                interrupt_after_s=interrupt_after,
                on_event=None if quiet else _printer,
            )
    if output is not None:
        write_wav(output, result.output_samples, rate)
    return result


def _decoded(option: str, path: Path | None, rate: int) -> Int16Audio | None:
    """``path`` decoded at ``rate``, or exit 2 naming ``option`` and the file."""
    if path is None:
        return None
    try:
        return decode_audio_file(path, sample_rate=rate)
    except AudioDecodeError as exc:
        fail(f"{option}: {escape(str(exc))}", Exit.USAGE)


def talk_command(
    url: str | None = typer.Option(
        None,
        help="ws://HOST:PORT of a running orchestrator, http://HOST:PORT of its --web "
        "endpoint (talk over WebRTC), or livekit://HOST:PORT/ROOM: a room of the LiveKit "
        "server it serves (token: ?token=, else signed with LIVEKIT_API_KEY/SECRET).",
    ),
    connect_timeout: float = typer.Option(10.0, help=CONNECT_ANY_HELP),
    worker: str | None = typer.Option(None, help="HOST:PORT of a worker for the embedded one."),
    config: Path | None = typer.Option(None, "--config", "-c", help="orchestrator.yaml"),
    input_file: Path | None = typer.Option(
        None, "--input", "-i", help="Recording of the user's side: WAV, FLAC, MP3, any rate."
    ),
    say: str | None = typer.Option(None, help="Speak this as the user's turn."),
    scenario_file: Path | None = typer.Option(
        None, "--scenario", help="Scenario YAML: timed user turns (espeak-ng), recordings, noise."
    ),
    text: str | None = typer.Option(None, help="Type this as the user's turn."),
    interrupt: str | None = typer.Option(None, help="Speak this over the reply (barge-in)."),
    interrupt_file: Path | None = typer.Option(
        None, "--interrupt-input", help="Recording to play over the reply (barge-in)."
    ),
    interrupt_after: float = typer.Option(1.0, help="Seconds into the reply to interrupt."),
    output: Path | None = typer.Option(None, "--output", "-o", help="WAV of what you'd hear."),
    rate: int = typer.Option(16000, help="Sample rate of both directions, Hz."),
    model: str = typer.Option("", help="Model the agent answers with (default: its config's)."),
    voice: str = typer.Option("", help="Voice of that model, e.g. a cloned one."),
    input_device: str | None = typer.Option(
        None, help="Microphone: index or name (see --list-devices); default: the system's."
    ),
    output_device: str | None = typer.Option(None, help="Speaker: index or name."),
    list_audio_devices: bool = typer.Option(
        False, "--list-devices", help="List the audio devices PortAudio sees and exit."
    ),
    no_aec: bool = typer.Option(False, "--no-aec", help="Live mode without echo cancellation."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    log_level: str = typer.Option("warning", help=LOG_LEVEL_HELP),
    quiet: bool = QUIET,
    verbose: bool = VERBOSE,
) -> None:
    start_logging(log_level, quiet=quiet, verbose=verbose)
    if list_audio_devices:
        _list_devices(json_out)
        return
    if rate not in SUPPORTED_SAMPLE_RATES:
        rates = ", ".join(str(r) for r in SUPPORTED_SAMPLE_RATES)
        fail(f"--rate {rate} is not supported; use one of {rates}", Exit.USAGE)
    if url is not None and (worker is not None or config is not None):
        fail("--worker and --config configure the embedded orchestrator; "
             "leave them out with --url", Exit.USAGE)  # fmt: skip
    if url is not None:
        check_ws_url(url, webrtc=True)  # reachability after the inputs: usage errors first

    def reach() -> None:
        if url is not None:
            check_orchestrator(url, timeout=connect_timeout, webrtc=True)
        if worker is not None:
            check_worker(worker, timeout=connect_timeout)

    scenario = None
    if scenario_file is not None:
        try:
            scenario = load_scenario(scenario_file)
        except ScenarioError as exc:
            fail(str(exc), Exit.USAGE)
    if input_file is None and say is None and text is None and scenario is None:
        if output is not None or interrupt is not None or interrupt_file is not None:
            fail(f"--output and --interrupt need a scripted turn: {FILE_MODES}", Exit.USAGE)
        reach()
        _live_mode(
            url=url, worker=worker, config=config, rate=rate, input_device=input_device,
            output_device=output_device, no_aec=no_aec, json_out=json_out,
            connect_timeout=connect_timeout, model_id=model, voice=voice,
        )  # fmt: skip
        return
    if interrupt is not None and interrupt_file is not None:
        fail("give --interrupt (text to speak) or --interrupt-input (a recording), not both",
             Exit.USAGE)  # fmt: skip
    # Decoded before any orchestrator starts: a bad file costs nothing.
    input_audio = _decoded("--input", input_file, rate)
    interrupt_input = _decoded("--interrupt-input", interrupt_file, rate)
    reach()
    try:
        result = asyncio.run(_talk(
            url=url, worker=worker, config=config, input_audio=input_audio, say=say, text=text,
            interrupt=interrupt, interrupt_after=interrupt_after, output=output, rate=rate,
            quiet=json_out, scenario=scenario, interrupt_input=interrupt_input,
            connect_timeout=connect_timeout, model_id=model, voice=voice,
        ))  # fmt: skip
    except OrchestratorConfigError as exc:
        fail(str(exc), Exit.USAGE)
    except HandshakeRefused as exc:
        fail(escape(str(exc)), Exit.REJECTED)
    except LiveKitConfigError as exc:  # livekit://: no credentials, or no livekit extra
        fail(str(exc), Exit.USAGE)
    except (OSError, ConnectionError) as exc:
        fail(f"cannot reach the orchestrator: {exc}", Exit.UNAVAILABLE)
    except (TimeoutError, TalkError) as exc:
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
