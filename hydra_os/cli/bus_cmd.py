"""``hydra bus``: credentials for a cluster's NATS server (docs/bus.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from hydra_os.bus.names import valid_node_id
from hydra_os.bus.permissions import new_node_user
from hydra_os.cli.common import console, fail

app = typer.Typer(help="Bus credentials for clusters (docs/bus.md).", no_args_is_help=True)


@app.command("user")
def user(
    node: Annotated[str, typer.Argument(help="The node id these credentials are for.")],
    out: Annotated[Path, typer.Option("--out", help="Write the node's bus.credentials_file here (0600).")],
) -> None:
    """Make a NATS nkey user for one node: its seed into --out, the server's users entry on stdout.

    The entry (public key only, no secret) restricts the node to its own hydra_nodes and
    hydra_models entries and events; add it to `authorization { users = [...] }` on every
    nats-server of the cluster, and point the node's bus.credentials_file at the --out file.
    """
    if not valid_node_id(node):
        fail(f"node id {node!r}: expected 1-64 characters from A-Z, a-z, 0-9, '-' and '_'")
    seed, entry = new_node_user(node)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(f"--out {out} exists; remove it or choose another path")
    except OSError as e:
        fail(f"--out {out}: {e.strerror}")
    with os.fdopen(fd, "wb") as f:
        f.write(seed + b"\n")
    console.print(json.dumps(entry, indent=2), highlight=False, markup=False)
