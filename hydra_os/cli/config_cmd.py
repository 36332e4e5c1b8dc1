"""``hydra config``: look at the effective configuration."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from hydra_os.cli.common import console, state
from hydra_os.config import redacted_dict

app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML-like text.")] = False,
) -> None:
    """Print the effective config (file + HYDRA_* env + defaults); credentials in URLs are redacted."""
    settings = state(ctx).settings()
    data = redacted_dict(settings)
    source = type(settings).source_path
    if as_json:
        console.print_json(json.dumps(data))
        return
    console.print(f"# source: {source or 'no config file'} (+ HYDRA_* environment)", highlight=False)
    for section, values in data.items():
        console.print(f"\n[bold]{escape(f'[{section}]')}[/]", highlight=False)  # a TOML header, not markup
        for key, value in values.items():
            shown = json.dumps(value)
            if key.endswith("_file") and value:
                shown += "  # secret file; content not shown"
            console.print(f"{key} = {shown}", highlight=False, markup=False)
