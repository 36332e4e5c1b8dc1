"""Top-level ``hydra`` app: global options and the command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import hydra_os.cli.memory_cmd as memory_cmd
from hydra_os import __version__
from hydra_os.cli import (
    ask_cmd,
    backup_cmd,
    briefing_cmd,
    bus_cmd,
    config_cmd,
    creative_cmd,
    doctor,
    feedback_cmd,
    heal_cmd,
    mcp_cmd,
    models_cmd,
    nixos_cmd,
    node_cmds,
    policy_cmd,
    route_cmd,
    run,
    tasks_cmd,
)
from hydra_os.cli.common import state
from hydra_os.cli.logs import CLI_LEVEL, setup_logging

app = typer.Typer(
    name="hydra",
    help="Hydra OS: one daemon per homelab node, joined over NATS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hydra {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Config TOML (default: $HYDRA_CONFIG, else /etc/hydra-os/config.toml if present)."
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    state(ctx).config_path = config
    setup_logging(CLI_LEVEL)  # `hydra run` sets the daemon's own level and format when it starts


app.command("run")(run.run)
app.command("status")(node_cmds.status)
app.command("nodes")(node_cmds.nodes)
app.command("doctor")(doctor.doctor)
app.add_typer(config_cmd.app, name="config")
app.add_typer(backup_cmd.app, name="backup")
app.add_typer(bus_cmd.app, name="bus")
app.add_typer(heal_cmd.app, name="heal")
app.add_typer(nixos_cmd.app, name="nixos")
app.add_typer(route_cmd.app, name="route")
app.add_typer(memory_cmd.app, name="memory")
app.add_typer(models_cmd.app, name="models")
policy_cmd.register(app)
tasks_cmd.register(app)
ask_cmd.register(app)
feedback_cmd.register(app)
briefing_cmd.register(app)
mcp_cmd.register(app)
creative_cmd.register(app)
