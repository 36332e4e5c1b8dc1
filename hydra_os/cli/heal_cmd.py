"""``hydra heal ...``: incidents, a check round now, supervised children, restart one (through policy)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from hydra_os.bus.client import Bus
from hydra_os.cli.common import console, state, with_bus
from hydra_os.cli.timefmt import when
from hydra_os.node import rpc

app = typer.Typer(help="Self-healing: incidents, checks, supervised processes.", no_args_is_help=True)

NodeOpt = Annotated[str | None, typer.Option("--node", "-n", help="Ask this node (default: this machine's).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the raw JSON.")]


def _ask(ctx: typer.Context, node: str | None, verb: str, params: dict[str, Any], timeout: float = 10.0) -> Any:
    settings = state(ctx).settings()
    target = node or settings.node.id

    async def go(bus: Bus) -> dict[str, Any]:
        return await rpc.call(bus, target, verb, params, timeout=timeout)

    return with_bus(settings, go)


def _incident_table(items: list[dict[str, Any]]) -> Table:
    table = Table("id", "root", "status", "first seen", "last seen", "actions", "outcome")
    for i in items:
        acts = ", ".join(f"{a['kind']}:{a['level']}->{a['status']}" for a in i["actions"][-3:])
        table.add_row(i["id"], i["root"], i["status"] + (" (escalated)" if i["escalated"] else ""),
                      when(i["first_seen"]), when(i["last_seen"]), acts or "-", i.get("outcome") or "-")
    return table


@app.command("incidents")
def incidents(
    ctx: typer.Context,
    node: NodeOpt = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include resolved incidents.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List incidents (open ones by default): root cause, first/last seen, actions with decisions, outcome."""
    items = _ask(ctx, node, "heal.incidents", {"all": all_})["incidents"]
    if as_json:
        console.print_json(json.dumps(items))
    elif not items:
        console.print("no incidents" + ("" if all_ else " open"))
    else:
        console.print(_incident_table(items))


@app.command("run")
def run_round(
    ctx: typer.Context,
    node: NodeOpt = None,
    check: Annotated[list[str] | None, typer.Option("--check", help="Only this check (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a check round now (repairs go through the policy like any other round)."""
    out = _ask(ctx, node, "heal.run", {"checks": check} if check else {}, timeout=120)
    if as_json:
        console.print_json(json.dumps(out))
        return
    rnd = out["round"]
    console.print(f"ran: {', '.join(rnd['checks']) or 'no enabled checks'}", highlight=False)
    for name, err in rnd.get("errors", {}).items():
        console.print(f"[yellow]check {name} could not run:[/] {err}", highlight=False)
    console.print("failing: " + (", ".join(rnd["failing"]) or "nothing"), highlight=False)
    if out["incidents"]:
        console.print(_incident_table(out["incidents"]))


@app.command("children")
def children(ctx: typer.Context, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Processes the daemon supervises (model engines, the embedded bus)."""
    items = _ask(ctx, node, "heal.children", {})["children"]
    if as_json:
        console.print_json(json.dumps(items))
        return
    table = Table("name", "kind", "pid", "healthy", "restarts", "last restart")
    for c in items:
        table.add_row(c["name"], c["kind"], str(c["pid"] or "-"), "yes" if c["healthy"] else "NO",
                      str(c["restarts"]), when(c["last_restart"]))
    console.print(table)


@app.command("restart")
def restart(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Supervised child name.")],
    node: NodeOpt = None,
) -> None:
    """Restart a supervised child through the policy gate (it may be parked for approval)."""
    out = _ask(ctx, node, "heal.restart", {"name": name}, timeout=120)["outcome"]
    d = out["decision"]
    console.print(f"{out['status']}: {d['level']} ({d['reason']})" + (f" — {out['error']}" if out.get("error") else ""),
                  highlight=False)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


@app.command("uptime")
def uptime(ctx: typer.Context, node: NodeOpt = None, as_json: JsonOpt = False) -> None:
    """Availability of every watched service over 24 h and 30 days (share of observed time it was up)."""
    out = _ask(ctx, node, "heal.uptime", {})
    if as_json:
        console.print_json(json.dumps(out))
        return
    items = out["services"]
    if not items:
        console.print(f"{out['node']}: nothing observed yet")
        return
    table = Table("service", "now", "since", "24 h", "30 d", "outages (30 d)", "observed (30 d)",
                  title=f"availability on {out['node']}")
    for a in items:
        table.add_row(a["target"], "up" if a["up"] else "[red]down[/]", when(a["since"]), _pct(a["availability_24h"]),
                      _pct(a["availability_30d"]), str(a["down_transitions_30d"]),
                      f"{a['observed_30d_s'] / 3600:.1f} h")
    console.print(table)
