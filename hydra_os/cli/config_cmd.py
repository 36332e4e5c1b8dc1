"""``hydra config``: look at the effective configuration."""

from __future__ import annotations

import json
from typing import Annotated, Any

import tomli_w
import typer

from hydra_os.cli.common import console, state
from hydra_os.config import redacted_dict

app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False,
) -> None:
    """Print the effective config (file + HYDRA_* env + defaults) as TOML a config file can start from;
    credentials in URLs are redacted, unset settings left out."""
    settings = state(ctx).settings()
    data = redacted_dict(settings)
    if as_json:
        console.print_json(json.dumps(data))
        return
    source = type(settings).source_path
    # plain stdout, not the Rich console: it would wrap long lines at the terminal's width
    typer.echo(f"# source: {source or 'no config file'} (+ HYDRA_* environment)")
    typer.echo("# unset settings are left out (TOML has no null); a *_file setting names a secret file; "
               "content not shown")
    typer.echo(tomli_w.dumps(_toml_ready(data)), nl=False)


def _toml_ready(value: dict[str, Any]) -> dict[str, Any]:
    """TOML has no null: an unset setting is left out (its default applies when the file is read back)."""
    out: dict[str, Any] = {}
    for key, v in value.items():
        if isinstance(v, dict):
            out[key] = _toml_ready(v)
        elif isinstance(v, list):
            out[key] = [_toml_ready(i) if isinstance(i, dict) else i for i in v if i is not None]
        elif v is not None:
            out[key] = v
    return out
