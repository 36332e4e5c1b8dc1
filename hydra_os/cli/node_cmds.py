"""``hydra status`` and ``hydra nodes``: ask the cluster over the bus."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Column, Table

from hydra_os.bus.client import Bus
from hydra_os.cli.common import console, state, with_bus
from hydra_os.node import rpc
from hydra_os.node.info import NodeInfo
from hydra_os.node.membership import read_nodes


def status(
    ctx: typer.Context,
    node: Annotated[str | None, typer.Option("--node", "-n", help="Ask this node (default: this machine's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON.")] = False,
) -> None:
    """Show a node's status (any node in the cluster, over the bus)."""
    settings = state(ctx).settings()
    target = node or settings.node.id

    async def ask(bus: Bus) -> dict[str, Any]:
        return await rpc.call(bus, target, "status")

    st = with_bus(settings, ask)
    if as_json:
        console.print_json(json.dumps(st))
        return
    b = st["bus"]
    console.print(f"[bold]{st['node']}[/] v{st['version']} — {'ready' if st['ready'] else 'NOT READY'}")
    console.print(f"  roles:   {', '.join(st['roles'])}", highlight=False)
    console.print(f"  uptime:  {st['uptime_s']:.0f}s   API: {st['api_url']}", highlight=False)
    bus_state = "connected" if b["connected"] else "DISCONNECTED"
    console.print(
        f"  bus:     {bus_state} to {b['server']} ({'embedded' if b['embedded'] else 'external'}), "
        f"{b['reconnects']} reconnects",
        highlight=False,
    )
    console.print(f"  nodes:   {', '.join(st['nodes_seen'])}", highlight=False)
    gpus = st.get("gpus") or []
    console.print(f"  gpus:    {len(gpus)} ({st['nvml']})", highlight=False)
    components = st.get("components") or {}
    if components:
        console.print("  components (--json for each one's details):", highlight=False)
    for name, comp in components.items():
        console.print(f"    {name:<14} {_component_state(comp)}", highlight=False, markup=False)


def _component_state(comp: dict[str, Any]) -> str:
    """``running``, ``running (degraded): stores down: ...``, ``retrying: <why>``: lifecycle, own state, reason,
    and any error the component reports beside it (the scheduler's ``start_error``, an endpoint's ``last_error``)."""
    life = comp.get("lifecycle") or {}
    shown = str(life.get("state", "?"))
    own = comp.get("state")
    if isinstance(own, str) and own not in (shown, "serving"):
        shown += f" ({own})"
    shown += f": {life['reason']}" if life.get("reason") else ""
    errors = [f"{k}: {v}" for k, v in comp.items() if k.endswith("error") and v]
    return "; ".join([shown, *errors])


def nodes(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON.")] = False,
) -> None:
    """List the nodes that are alive in the cluster (from the hydra_nodes bucket)."""
    settings = state(ctx).settings()

    async def read(bus: Bus) -> list[NodeInfo]:
        return await read_nodes(bus, settings.membership.gone_after)

    found = with_bus(settings, read)
    if as_json:
        console.print_json(json.dumps([n.model_dump(mode="json") for n in found]))
        return
    # no vertical rules, the roles column never narrower than its longest role, and the API URLs under the
    # table: on an 80-column terminal nothing is cut to "gate…" or "http…"
    longest = max((len(r) + 1 for n in found for r in n.roles), default=5)
    table = Table("node", Column("roles", min_width=longest), "ver", "cpu", "ram free", "gpus", "vram free",
                  "uptime", "seen", box=box.SIMPLE_HEAD)
    for n in found:
        table.add_row(
            n.id,
            ", ".join(n.roles),
            n.version,
            f"{n.cpu_percent:.0f}% of {n.cpu_count}",
            f"{n.mem_available_mb / 1024:.1f} GiB",
            str(len(n.gpus)),
            f"{n.vram_free_mb / 1024:.1f} GiB" if n.gpus else "-",
            f"{n.uptime_s:.0f}s",
            f"{time.time() - n.heartbeat_at:.1f}s ago",
        )
    console.print(table)
    for n in found:
        console.print(f"  {n.id} API: {n.api_url or '-'}", highlight=False, soft_wrap=True)
