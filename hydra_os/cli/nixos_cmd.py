"""``hydra nixos ...``: generations, current vs booted, the safe switch (with --dry-run), rollback.

These run on this machine (they need the rights nixos-rebuild needs). The switch's health gate also asks
this node's daemon and the other nodes over the bus (:mod:`hydra_os.nixos.gate`) when they answer. A failed
health gate rolls back, records the revision and sends an INFORM_AFTER notification (``[notify]``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated

import typer
from rich.table import Table

from hydra_os.bus.auth import local_credentials
from hydra_os.bus.client import Bus
from hydra_os.cli.common import console, fail, state
from hydra_os.config import Settings
from hydra_os.errors import HydraError
from hydra_os.nixos.gate import ClusterGate
from hydra_os.nixos.generations import list_generations
from hydra_os.nixos.ledger import FailedRevisions
from hydra_os.nixos.switch import SafeSwitch, SwitchOutcome
from hydra_os.nixos.system import system_state
from hydra_os.notify import build_notifier

app = typer.Typer(help="NixOS generations, safe switch and rollback.", no_args_is_help=True)
BUS_CONNECT_S = 10.0
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the raw JSON.")]


def _switcher(ctx: typer.Context) -> SafeSwitch:
    s = state(ctx).settings()
    try:
        notifier = build_notifier(s.notify, s.state_dir)
    except HydraError as e:
        fail(e)
    return SafeSwitch(s.healing.nixos, FailedRevisions(s.state_dir / "nixos" / "failed-revisions.json"),
                      s.state_dir / "nixos", notifier=notifier, node_id=s.node.id)


def _print(out: SwitchOutcome, as_json: bool) -> None:
    if as_json:
        console.print_json(out.model_dump_json())
        return
    if out.status == "dry_run":
        console.print("plan (nothing was run):")
        for i, step in enumerate(out.plan, 1):
            cmd = " ".join(step.argv) if step.argv else "(checks)"
            console.print(f"  {i}. {step.name}: {cmd}\n     {step.why}", highlight=False, markup=False)
        return
    for s in out.steps:
        console.print(f"  {s.name}: exit {s.returncode} in {s.seconds:.1f}s  {s.tail}", highlight=False, markup=False)
    console.print(f"{out.status}: {out.toplevel or '-'} (revision {out.revision or '-'})", highlight=False)
    for p in out.problems:
        console.print(f"  problem: {p}", highlight=False, markup=False)


@app.command("generations")
def generations(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List system generations (nixos-rebuild list-generations --json, else nix-env)."""
    cfg = state(ctx).settings().healing.nixos
    try:
        gens = asyncio.run(list_generations(cfg))
    except HydraError as e:
        fail(e)
    if as_json:
        console.print_json(json.dumps([g.model_dump() for g in gens]))
        return
    table = Table("gen", "date", "current", "nixos", "kernel", "revision")
    for g in gens:
        table.add_row(str(g.number), g.date, "*" if g.current else "", g.nixos_version or "-",
                      g.kernel_version or "-", g.configuration_revision or "-")
    console.print(table)


@app.command("status")
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The running system vs the booted one, and revisions that failed their gate."""
    s = state(ctx).settings()
    st = system_state(s.healing.nixos)
    failed = FailedRevisions(s.state_dir / "nixos" / "failed-revisions.json").all()
    if as_json:
        console.print_json(json.dumps({**st.model_dump(), "switched_since_boot": st.switched_since_boot,
                                       "failed_revisions": [f.model_dump() for f in failed]}))
        return
    console.print(f"current: {st.current or '-'}\nbooted:  {st.booted or '-'}\nprofile: {st.profile or '-'}",
                  highlight=False)
    console.print("switched since boot" if st.switched_since_boot else "running the booted system")
    for f in failed:
        console.print(f"failed revision {f.revision}: {f.reason}", highlight=False, markup=False)


def _servers(settings: Settings) -> list[str] | None:
    """``bus.url``, else the embedded server of the daemon on this state dir; None when there is none."""
    from hydra_os.daemon import read_runtime  # lazy: the daemon module loads every component

    if settings.bus.url:
        return list(settings.bus.url)
    rt = read_runtime(settings.node.state_dir)
    return list(rt["bus"]) if rt and rt.get("bus") else None


async def _with_cluster_gate(sw: SafeSwitch, settings: Settings, run: Callable[[], Awaitable[SwitchOutcome]],
                             ) -> SwitchOutcome:
    """Run the switch with Hydra's checks in its gate when this node's daemon answers on the bus."""
    servers = _servers(settings)
    if not servers:
        console.print("[yellow]Hydra's checks are not in the gate: no daemon runs on this node[/]")
        return await run()
    try:
        async with asyncio.timeout(BUS_CONNECT_S):
            local = None if settings.bus.url else local_credentials(settings.node.state_dir)
            bus = Bus(servers, settings.bus, name="hydra-nixos-switch", credentials=local)
            await bus.connect()
    except (HydraError, OSError, TimeoutError) as e:
        console.print(f"[yellow]Hydra's checks are not in the gate: no bus ({e})[/]", highlight=False)
        return await run()
    try:
        gate = ClusterGate(bus, settings.node.id, settings.membership.gone_after)
        try:
            await gate.baseline()
        except HydraError as e:
            console.print(f"[yellow]Hydra's checks are not in the gate: {e}[/]", highlight=False)
        else:
            sw.gate_checks.append(gate)
        return await run()
    finally:
        await bus.close()


@app.command("switch")
def switch(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; run nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Try a revision that failed its gate before.")] = False,
    toplevel: Annotated[str | None, typer.Option("--toplevel", help="An already built system (skips build).")] = None,
    flake: Annotated[str | None, typer.Option(
        "--flake", help="What to build, as for nixos-rebuild (default: healing.nixos.flake).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Safe switch: build, switch-to-configuration test, health gate (exit code 4, then Hydra's checks on
    this node and the other nodes' view of it), then boot + profile; else roll back and record the revision.
    Use it where you would run `nixos-rebuild switch --flake ...`."""
    sw = _switcher(ctx)
    if flake is not None:
        sw.cfg = sw.cfg.model_copy(update={"flake": flake})

    async def run() -> SwitchOutcome:
        return await sw.switch(toplevel=toplevel, dry_run=dry_run, force=force)

    try:
        out = asyncio.run(run() if dry_run else _with_cluster_gate(sw, state(ctx).settings(), run))
    except HydraError as e:
        fail(e)
    _print(out, as_json)
    if out.status == "rolled_back":
        raise typer.Exit(1)


@app.command("rollback")
def rollback(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Go back one generation (nix-env --rollback, then switch-to-configuration switch)."""
    try:
        out = asyncio.run(_switcher(ctx).rollback())
    except HydraError as e:
        fail(e)
    _print(out, as_json)
    if not out.ok:
        raise typer.Exit(1)
