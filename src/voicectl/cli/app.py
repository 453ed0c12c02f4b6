"""The ``voicectl`` command: one typer app, one module per command group."""

from __future__ import annotations

import typer

from voicectl import __version__
from voicectl.cli import (
    bench,
    bench_conversation,
    config,
    doctor,
    health,
    models,
    orchestrator,
    profile,
    registry,
    say,
    talk,
    token,
    voices,
    worker,
)

app = typer.Typer(
    name="voicectl",
    help="Realtime duplex voice stack: TTS workers, orchestrator and tools.\n\n"
    "Example: voicectl say 'Hello there.' --output hello.wav",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"voicectl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Realtime duplex voice stack."""


app.command("worker", help=worker.HELP)(worker.worker_command)
app.command("say", help=say.HELP)(say.say_command)
app.command("orchestrator", help=orchestrator.HELP)(orchestrator.orchestrator_command)
app.command("talk", help=talk.HELP)(talk.talk_command)
app.command("doctor", help=doctor.HELP)(doctor.doctor_command)
app.command("token", help=token.HELP)(token.token_command)
app.add_typer(models.app, name="models")
app.add_typer(voices.app, name="voices")
app.add_typer(config.app, name="config")
app.add_typer(health.app, name="health")
bench_conversation.register(bench.app)
app.add_typer(bench.app, name="bench")
app.add_typer(registry.app, name="registry")
app.add_typer(profile.app, name="profile")


def main() -> None:
    app(prog_name="voicectl")  # also under `python -m voicectl` (help, completion)
