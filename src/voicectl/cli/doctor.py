"""``voicectl doctor``: what this machine can run, and what to install for the rest."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from voicectl.cli.common import Exit, console, print_json
from voicectl.doctor import default_path_works, run_checks

HELP = """Check what this machine has for each feature and print what to install for what
is missing. Exit 0 when the default path works (`voicectl talk --say ...` with no Redis,
no GPU, models from PyPI), 1 when it does not; optional features never fail it.

Example: voicectl doctor --json
"""


def doctor_command(
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    checks = run_checks()
    works = default_path_works(checks)
    if json_out:
        print_json({"default_path_works": works, "checks": [c.to_dict() for c in checks]})
    else:
        table = Table(title="voicectl doctor", header_style="bold")
        for column in ("check", "for", "status", "found", "to fix"):
            table.add_column(column)
        for check in checks:
            status = "[green]ok[/]" if check.ok else (
                "[red]missing[/]" if check.required else "[yellow]optional[/]")  # fmt: skip
            table.add_row(escape(check.name), escape(check.feature), status,
                          escape(check.detail), "" if check.ok else escape(check.fix))  # fmt: skip
        console.print(table)
        verdict = "[green]the default path works[/]" if works else (
            "[red]the default path cannot run: fix the missing required checks[/]")  # fmt: skip
        console.print(verdict)
    if not works:
        raise typer.Exit(int(Exit.FAILURE))
