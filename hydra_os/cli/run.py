"""``hydra run``: the daemon."""

from __future__ import annotations

import asyncio
import faulthandler
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from hydra_os.cli.common import fail, state
from hydra_os.cli.logs import setup_logging
from hydra_os.errors import HydraError


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop when installed (a dependency on Linux; less CPU per proxied request), else asyncio."""
    try:
        import uvloop  # lazy: a dependency on Linux only; elsewhere asyncio runs the loop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def run(
    ctx: typer.Context,
    state_dir: Annotated[Path | None, typer.Option(help="Override node.state_dir.")] = None,
    node_id: Annotated[str | None, typer.Option(help="Override node.id (default: the short hostname).")] = None,
    api_port: Annotated[int | None, typer.Option(help="Override api.port (0 picks a free port).")] = None,
    bus_url: Annotated[
        str | None, typer.Option(help="Join this NATS (comma-separated URLs) instead of starting an embedded one.")
    ] = None,
) -> None:
    """Run the node daemon in the foreground (SIGTERM or Ctrl-C stops it cleanly)."""
    overrides: dict[str, Any] = {}
    node: dict[str, Any] = {}
    if state_dir is not None:
        node["state_dir"] = state_dir
    if node_id is not None:
        node["id"] = node_id
    if node:
        overrides["node"] = node
    if api_port is not None:
        overrides["api"] = {"port": api_port}
    if bus_url is not None:
        overrides["bus"] = {"url": bus_url}
    settings = state(ctx).settings(**overrides)
    # a crash in native code (a SIGBUS from a memory-mapped store on a full disk, a segfault in a
    # binding) prints every thread's Python stack to stderr (the journal) instead of dying silently
    faulthandler.enable()
    setup_logging(settings.log.level, settings.log.json_lines)
    from hydra_os.daemon import Daemon  # lazy: the daemon module loads every component; only `run` needs it

    try:
        _run_loop(Daemon(settings).run())
    except HydraError as e:
        fail(e)
    except KeyboardInterrupt:
        pass
