"""``hydra schedule list | add | remove``: the scheduler's recurring jobs.

``list`` asks the scheduler leader (node RPC); ``add`` and ``remove`` write the ``hydra_schedule``
bucket directly, which the leader follows within moments.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from hydra_os.bus.client import Bus
from hydra_os.cli.common import console, fail, parse_params, state, with_bus
from hydra_os.errors import HydraError
from hydra_os.node import rpc
from hydra_os.scheduler.errors import InvalidJobError
from hydra_os.scheduler.leader import current_leader
from hydra_os.scheduler.setup import SCHEDULE_VERB
from hydra_os.scheduler.store import ScheduleStore, add_job, parse_job

schedule_app = typer.Typer(help="The scheduler's recurring jobs: list, add, remove.", no_args_is_help=True)


@schedule_app.command("list")
def schedule_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recurring jobs as the scheduler leader sees them: next run, last slot and outcome."""
    settings = state(ctx).settings()

    async def go(bus: Bus) -> dict[str, Any]:
        holder = await current_leader(bus)
        if not holder or not holder.get("node"):
            fail("no scheduler leader right now; is a node with the 'scheduler' role running?")
        return await rpc.call(bus, str(holder["node"]), SCHEDULE_VERB)

    view = with_bus(settings, go)
    if as_json:
        console.print_json(json.dumps(view))
        return
    console.print(f"leader: [bold]{view['node']}[/] (time zone {view['timezone']})", highlight=False)
    table = Table("job", "from", "does", "next run", "last slot", "outcome")
    for j in view["jobs"]:
        last = j.get("last") or {}
        outcome = last.get("outcome", "-")
        if last.get("reason") or last.get("error"):
            outcome += f": {last.get('reason') or last.get('error')}"
        table.add_row(j["id"], j.get("source", "-"), f"{j['target']} {j['kind']}", (j.get("next_run") or "-")[:19],
                      (last.get("slot") or "-")[:19], outcome[:70])
    console.print(table)
    for note in view.get("shadowed", []):
        console.print(f"[yellow]note:[/] {note}", highlight=False)


def _params(param: list[str] | None, params_json: str | None) -> dict[str, Any]:
    return parse_params(param, params_json, InvalidJobError)


@schedule_app.command("add")
def schedule_add(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="Job id: a-z, 0-9, '-' and '_'.")],
    kind: Annotated[str, typer.Option(help="Task kind it queues each time, e.g. research.topic.")],
    cron: Annotated[str | None, typer.Option(help="Crontab in the owner's zone, e.g. '0 9 * * mon'.")] = None,
    every: Annotated[float | None, typer.Option("--every", help="Or: every this many seconds.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="key=value (repeatable).")] = None,
    params_json: Annotated[str | None, typer.Option("--params-json", help="Parameters as a JSON object.")] = None,
    priority: Annotated[int, typer.Option(help="0 low, 1 normal, 2 high, 3 urgent.")] = 1,
    window: Annotated[str | None, typer.Option(help="Run the task only inside this window: overnight.")] = None,
    gpu_mb: Annotated[int, typer.Option(help="VRAM the task needs (MB).")] = 0,
    title: Annotated[str, typer.Option(help="What it is for, in words.")] = "",
    replace: Annotated[bool, typer.Option("--replace", help="Replace a stored job of the same id.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Add a recurring job; the scheduler leader runs it from its next slot."""

    settings = state(ctx).settings()
    try:
        job = parse_job({"id": job_id, "kind": kind, "cron": cron, "every_s": every,
                         "params": _params(param, params_json), "priority": priority, "window": window,
                         "gpu_vram_mb": gpu_mb})
    except HydraError as e:
        fail(e)

    async def go(bus: Bus) -> dict[str, Any]:
        return await add_job(ScheduleStore(bus), job, settings.owner.timezone, source="cli", title=title,
                             replace=replace)

    out = with_bus(settings, go)
    if as_json:
        console.print_json(json.dumps(out))
        return
    console.print(f"scheduled [bold]{job_id}[/] ({kind}); next run {out['next_run'] or 'never'}", highlight=False)


@schedule_app.command("remove")
def schedule_remove(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="Id of a job added with 'hydra schedule add' or by a request.")],
) -> None:
    """Remove a recurring job added at run time (configured jobs are changed in the config file)."""

    settings = state(ctx).settings()

    async def go(bus: Bus) -> None:
        await ScheduleStore(bus).remove(job_id)

    with_bus(settings, go)
    console.print(f"removed {job_id}; it will not run again", highlight=False)
