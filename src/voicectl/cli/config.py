"""``voicectl config show``: the configuration a service would start with, and its sources."""

from __future__ import annotations

from dataclasses import asdict
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from voicectl.cli.common import Exit, console, fail, print_json
from voicectl.config_errors import shown_value
from voicectl.config_layers import env_name, flatten
from voicectl.orchestrator.config import OrchestratorConfigError, resolve_orchestrator_config
from voicectl.worker.config import ConfigError, resolve_worker_config

app = typer.Typer(
    help="Show the resolved configuration of a service.\n\n"
    "Example: voicectl config show worker --config configs/worker.yaml",
    no_args_is_help=True,
)


class Service(StrEnum):
    WORKER = "worker"
    ORCHESTRATOR = "orchestrator"


def resolved_rows(service: Service, config: Path | None) -> list[dict[str, object]]:
    """Every key with its value and where it came from (default, file, env); the
    orchestrator's thresholds are listed for every phase, as the sessions use them."""
    if service is Service.WORKER:
        worker = resolve_worker_config(yaml_path=config)
        values = worker.settings.model_dump(mode="json")
        origins = worker
    else:
        orchestrator = resolve_orchestrator_config(config)
        values = orchestrator.settings.model_dump(mode="json")
        policy = orchestrator.settings.to_config().policy
        values["barge_in"]["thresholds"] = {
            phase.value: asdict(thresholds) for phase, thresholds in policy.thresholds.items()
        }
        origins = orchestrator  # type: ignore[assignment]
    return [
        {"key": key, "value": shown_value(key, value), "source": origins.source(key),
         "env": env_name(key)}
        for key, value in flatten(values).items()
    ]  # fmt: skip


@app.command("show")
def show_command(
    service: Service = typer.Argument(..., help="worker or orchestrator."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML config, e.g. configs/worker.yaml."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Print the configuration SERVICE would start with, and where each value came from.

    Layers: defaults < --config file < VOICECTL_* environment < flags. Passwords in
    URLs and tokens are shown as ***.

    Example: VOICECTL_PORT=6000 voicectl config show worker --config configs/worker.yaml
    """
    try:
        rows = resolved_rows(service, config)
    except (ConfigError, OrchestratorConfigError) as exc:
        fail(str(exc), Exit.USAGE)
    if as_json:
        print_json({"service": service.value, "config": None if config is None else str(config),
                    "values": rows})  # fmt: skip
        return
    table = Table(title=f"{service.value} configuration")
    for column in ("key", "value", "source", "environment variable"):
        table.add_column(column, overflow="fold")
    for row in rows:
        source = str(row["source"])
        style = "dim" if source == "default" else "bold"
        table.add_row(str(row["key"]), repr(row["value"]), f"[{style}]{source}[/]", str(row["env"]))
    console.print(table)
