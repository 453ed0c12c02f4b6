"""``voicectl models pull``: download a voicepack's weights from a Hugging Face hub."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from voicectl.cli.common import Exit, console, err_console, fail, print_json
from voicectl.worker.pull import PullError, find_voicepack, pull
from voicectl.worker.voicepacks import VoicepackError

DEFAULT_VOICEPACKS = Path("voicepacks")


def pull_command(
    name: str = typer.Argument(..., help="Model id (xtts:v2) or voicepack folder name."),
    voicepacks: Path = typer.Option(
        DEFAULT_VOICEPACKS, help="Folder of <name>/voicepack.yaml files."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Download the files a voicepack lists from its hub repo (HF_ENDPOINT, HF_TOKEN).

    Example: voicectl models pull xtts:v2 --voicepacks voicepacks
    """
    try:
        voicepack = find_voicepack(name, voicepacks)
        if json_out:
            result = pull(voicepack, progress=False)
        else:
            with err_console.status(f"pulling {name}…") as status:
                result = pull(voicepack, on_file=lambda f: status.update(f"pulling {f}…"))
    except VoicepackError as exc:
        fail(str(exc), Exit.USAGE)
    except PullError as exc:
        fail(str(exc), Exit.NOT_FOUND if exc.missing else Exit.UNAVAILABLE)
    files = [{"name": f.name, "path": str(f.path), "bytes": f.bytes} for f in result.files]
    if json_out:
        print_json({"model_id": result.model_id, "repo": result.repo,
                    "revision": result.revision, "endpoint": result.endpoint,
                    "files": files})  # fmt: skip
        return
    table = Table(title=f"{result.model_id} from {result.repo}@{result.revision}")
    for column in ("file", "path", "bytes"):
        table.add_column(column, justify="right" if column == "bytes" else "left")
    for entry in files:
        table.add_row(str(entry["name"]), str(entry["path"]), f"{entry['bytes']:,}")
    console.print(table)
