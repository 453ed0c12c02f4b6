"""``voicectl voices add | ls | rm``: cloned voices, kept with their voicepack.

``add`` checks a reference recording (6-10 s of one person, 16 kHz or more, not clipped,
mostly speech), loads the model in this process, computes the voice's latents once and
stores them as ``<voicepack>/voices/NAME.npz``. A worker started afterwards lists the voice
and ``say``/``talk --voice NAME`` speak with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.table import Table

from voicectl.cli.common import Exit, console, fail, print_json
from voicectl.cli.models_pull import DEFAULT_VOICEPACKS
from voicectl.worker.adapters import ADAPTERS, AdapterUnavailable, resolve_adapter
from voicectl.worker.pull import find_voicepack
from voicectl.worker.voicepacks import VoicepackError, load_voicepack, read_voicepack
from voicectl.worker.voices import (
    ReferenceError,
    check_name,
    check_reference,
    save_voice,
    voice_names,
    voices_dir,
)

app = typer.Typer(
    help="Cloned voices (XTTS-v2): add one from a reference recording, list, remove.\n\n"
    "Example: voicectl voices add ana --model xtts:xtts-v2 --reference ana.wav",
    no_args_is_help=True,
)

VOICEPACKS_HELP = "Folder of <name>/voicepack.yaml files."


def read_reference(path: Path) -> tuple[np.ndarray[Any, Any], int]:
    """A recording as float32 mono and its own sample rate (soundfile: WAV, FLAC, OGG)."""
    import soundfile

    try:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as exc:  # soundfile.LibsndfileError is a RuntimeError
        fail(f"--reference {path}: cannot read it as audio ({exc}); use WAV or FLAC", Exit.USAGE)
    return np.asarray(audio.mean(axis=1), dtype=np.float32), int(rate)


def _cloning_voicepack(model: str, voicepacks: Path) -> Path:
    try:
        path = find_voicepack(model, voicepacks)
        pack = read_voicepack(path)
    except VoicepackError as exc:
        fail(str(exc), Exit.NOT_FOUND)
    if not ADAPTERS[pack.adapter].clones_voices:
        cloners = sorted(name for name, entry in ADAPTERS.items() if entry.clones_voices)
        fail(f"--model {model}: adapter {pack.adapter!r} does not clone voices "
             f"(these do: {', '.join(cloners)})", Exit.USAGE)  # fmt: skip
    return path


@app.command("add")
def add_command(
    name: str = typer.Argument(..., help="The voice's name: letters, digits and . _ -"),
    model: str = typer.Option(..., help="Model id (or voicepack folder) that clones voices."),
    reference: Path = typer.Option(..., help="6-10 s of one person speaking (WAV or FLAC)."),
    voicepacks: Path = typer.Option(DEFAULT_VOICEPACKS, help=VOICEPACKS_HELP),
    force: bool = typer.Option(False, "--force", help="Replace a voice of that name."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a line."),
) -> None:
    """Clone a voice from a reference recording; its latents are stored with the voicepack.

    Example: voicectl voices add ana --model xtts:xtts-v2 --reference ana.wav
    """
    try:
        check_name(name)
    except ValueError as exc:
        fail(str(exc), Exit.USAGE)
    path = _cloning_voicepack(model, voicepacks)
    if name in voice_names(path.parent) and not force:
        fail(f"voice {name!r} exists for {model}; --force replaces it", Exit.REJECTED)
    audio, rate = read_reference(reference)
    try:
        check_reference(audio, rate, name=f"--reference {reference}")
    except ReferenceError as exc:
        fail(str(exc), Exit.USAGE)
    try:
        spec = load_voicepack(path)
        adapter: Any = resolve_adapter(spec.adapter).load(spec)
        latents = adapter.clone_voice(audio, rate)
    except AdapterUnavailable as exc:
        fail(str(exc), Exit.FAILURE)
    except (VoicepackError, ValueError, RuntimeError) as exc:  # torch raises RuntimeError
        fail(f"cloning with {model} failed: {exc}", Exit.FAILURE)
    try:
        stored = save_voice(path.parent, name, latents)
    except OSError as exc:
        fail(f"cannot store the voice in {voices_dir(path.parent)}: {exc}", Exit.FAILURE)
    finally:
        adapter.unload()
    summary = {"voice": name, "model_id": spec.model_id, "path": str(stored),
               "reference_seconds": round(len(audio) / rate, 2)}  # fmt: skip
    if json_out:
        print_json(summary)
    else:
        console.print(f"added voice [bold]{name}[/] to {spec.model_id} ({stored})")


@app.command("ls")
def ls_command(
    model: str | None = typer.Option(None, help="Only this model's voices."),
    voicepacks: Path = typer.Option(DEFAULT_VOICEPACKS, help=VOICEPACKS_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """The cloned voices of every voicepack that clones voices.

    Example: voicectl voices ls --voicepacks voicepacks --json
    """
    if not voicepacks.is_dir():
        fail(f"--voicepacks {voicepacks} is not a directory", Exit.USAGE)
    try:
        paths = [_cloning_voicepack(model, voicepacks)] if model else [
            p for p in sorted(voicepacks.glob("*/voicepack.yaml"))
            if ADAPTERS.get(read_voicepack(p).adapter, ADAPTERS["mock"]).clones_voices
        ]  # fmt: skip
        rows = [{"model_id": read_voicepack(p).id, "voice": voice,
                 "path": str(voices_dir(p.parent) / f"{voice}.npz")}
                for p in paths for voice in voice_names(p.parent)]  # fmt: skip
    except VoicepackError as exc:
        fail(str(exc), Exit.USAGE)
    if json_out:
        print_json({"voices": rows})
        return
    table = Table(title="cloned voices", header_style="bold")
    for column in ("model", "voice", "file"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["model_id"], row["voice"], row["path"])
    console.print(table)


@app.command("rm")
def rm_command(
    name: str = typer.Argument(..., help="The voice to remove."),
    model: str = typer.Option(..., help="Model id (or voicepack folder)."),
    voicepacks: Path = typer.Option(DEFAULT_VOICEPACKS, help=VOICEPACKS_HELP),
) -> None:
    """Remove a cloned voice (a running worker keeps it until it restarts).

    Example: voicectl voices rm ana --model xtts:xtts-v2
    """
    path = _cloning_voicepack(model, voicepacks)
    if name not in voice_names(path.parent):
        known = ", ".join(voice_names(path.parent)) or "none"
        fail(f"{model} has no voice {name!r}; its voices: {known}", Exit.NOT_FOUND)
    (voices_dir(path.parent) / f"{name}.npz").unlink()
    console.print(f"removed voice [bold]{name}[/] from {model}")
