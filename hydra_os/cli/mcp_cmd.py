"""``hydra mcp``: the MCP server on stdin/stdout, for a coding agent on this machine.

It reaches the cluster over the bus like every other CLI command (``bus.url``, else the local daemon's
embedded server with the credentials in its state dir). Stdout carries only the protocol; logs go to
stderr.
"""

from __future__ import annotations

import typer

from hydra_os.bus.client import Bus
from hydra_os.cli.common import fail, state, with_bus
from hydra_os.mcp import INSTALL_HINT, sdk_available


def mcp(ctx: typer.Context) -> None:
    """Serve Hydra's memory, tasks and request path to a coding agent over MCP (stdio)."""
    if not sdk_available():
        fail(INSTALL_HINT)
    # the MCP SDK is an optional extra, needed by this command only, not by every `hydra` invocation
    from hydra_os.mcp.hub import Hub  # lazy: the optional MCP SDK
    from hydra_os.mcp.server import build_server  # lazy: the optional MCP SDK

    settings = state(ctx).settings()

    async def go(bus: Bus) -> None:
        await build_server(Hub(bus, settings)).run_stdio_async()

    try:
        with_bus(settings, go)  # returns when the agent closes stdin
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)
