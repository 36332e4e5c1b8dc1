"""Policy commands: ``hydra policy ...``, ``hydra maintenance ...``, ``hydra approvals``,
``hydra approve ID``, ``hydra deny ID``, ``hydra audit log|verify``.

Registered on the top-level app by :func:`register`. Approvals and maintenance work on the bus's
KV buckets directly (any node runs them); audit reads ``HYDRA_EVENTS``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import json
import socket
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from hydra_os.bus.client import Bus
from hydra_os.cli.common import console, fail, state, with_bus
from hydra_os.cli.timefmt import when
from hydra_os.errors import HydraError
from hydra_os.node import rpc
from hydra_os.policy.approvals import OPEN_STATES, ApprovalRecord, ApprovalStore
from hydra_os.policy.audit import StoredEvent, read_events, verify_all
from hydra_os.policy.defaults import DEFAULT_POLICY_TOML
from hydra_os.policy.durations import parse_duration
from hydra_os.policy.engine import PolicyEngine
from hydra_os.policy.guards.maintenance import AdhocWindow
from hydra_os.policy.guards.maintenance_store import MaintenanceStore
from hydra_os.policy.model import BlastRadius
from hydra_os.policy.parse import parse_action

policy_app = typer.Typer(help="Explain and check the autonomy policy.", no_args_is_help=True)
maintenance_app = typer.Typer(help="Maintenance windows: nothing is restarted, nothing alerts.",
                              no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail of decisions and actions (HYDRA_EVENTS).", no_args_is_help=True)


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "owner"
    return f"cli:{user}@{socket.gethostname().split('.')[0]}"


# ---- policy --------------------------------------------------------------------------------
@policy_app.command("explain")
def explain(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="Action kind, e.g. service.restart.")],
    target: Annotated[str, typer.Argument(help="Action target, e.g. unit:ollama.service.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE (repeatable).")] = None,
    cost: Annotated[float, typer.Option("--cost", help="Estimated cost.")] = 0.0,
    irreversible: Annotated[bool, typer.Option("--irreversible", help="The action cannot be undone.")] = False,
    blast: Annotated[BlastRadius, typer.Option("--blast-radius", help="How much can break.")] = BlastRadius.SERVICE,
    file: Annotated[Path | None, typer.Option("--file", help="Policy file (default: policy.file).")] = None,
    live: Annotated[bool, typer.Option("--live", help="Ask the running node (includes guards).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Which level an action gets, the rule that matched, and why."""
    params: dict[str, Any] = {}
    for p in param or []:
        key, sep, value = p.partition("=")
        if not sep or not key:
            fail(f"--param expects KEY=VALUE, got {p!r}")
        params[key] = value
    data = {"kind": kind, "target": target, "params": params, "estimated_cost": cost,
            "reversible": not irreversible, "blast_radius": blast.value}
    try:
        action = parse_action(data)
    except HydraError as e:
        fail(e)
    settings = state(ctx).settings()
    if live:
        async def ask(bus: Bus) -> dict[str, Any]:
            return await rpc.call(bus, settings.node.id, "policy_explain", data)

        answer = with_bus(settings, ask)
        decision, source = answer["decision"], f"node {settings.node.id} (rules + guards)"
    else:
        try:
            engine = PolicyEngine.from_file(file or settings.policy.file)
        except HydraError as e:
            fail(e)
        decision, source = engine.decide(action).model_dump(mode="json"), engine.policy.source
    if as_json:
        console.print_json(json.dumps({"action_hash": action.content_hash(), "decision": decision}))
        return
    console.print(f"[bold]{decision['level']}[/]  rule {decision['rule_id']}", highlight=False)
    console.print(f"  {decision['reason']}", highlight=False, markup=False)
    console.print(f"  policy: {source}; action hash {action.content_hash()[:12]}", highlight=False)


@policy_app.command("check")
def check(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="Policy file (default: policy.file).")] = None,
) -> None:
    """Validate a policy file; prints the line and the problem if it is malformed."""
    path = file or state(ctx).settings().policy.file
    try:
        engine = PolicyEngine.from_file(path)
    except HydraError as e:
        fail(e)
    console.print(f"ok: {len(engine.policy.rules)} rules from {engine.policy.source}", highlight=False)


@policy_app.command("defaults")
def defaults() -> None:
    """Print the built-in policy (a starting point for your own file)."""
    typer.echo(DEFAULT_POLICY_TOML, nl=False)


@policy_app.command("reload")
def reload(ctx: typer.Context) -> None:
    """Make the local node re-read its policy file now (it also does so on change)."""
    settings = state(ctx).settings()

    async def go(bus: Bus) -> dict[str, Any]:
        return await rpc.call(bus, settings.node.id, "policy_reload")

    res = with_bus(settings, go)
    if res.get("error"):
        fail(f"{res['error']} (the node keeps policy {res.get('kept')})", 2)
    console.print(json.dumps(res), highlight=False, markup=False)


# ---- maintenance ---------------------------------------------------------------------------
@maintenance_app.command("start")
def maintenance_start(
    ctx: typer.Context,
    duration: Annotated[str, typer.Option("--for", help="How long: 2h, 30m, 1h30m.")],
    target: Annotated[list[str] | None, typer.Option("--target", "-t", help="Target glob (repeatable).")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why, shown in receipts.")] = "",
) -> None:
    """Open a cluster-wide maintenance window now."""
    try:
        seconds = parse_duration(duration)
    except ValueError as e:
        fail(f"--for: {e}")
    settings = state(ctx).settings()

    async def go(bus: Bus) -> AdhocWindow:
        store = await MaintenanceStore.open(bus)
        return await store.start(seconds, targets=target or ["*"], reason=reason, by=_who())

    w = with_bus(settings, go)
    console.print(f"maintenance window {w.id} open until {when(w.until)} for {', '.join(w.targets)}",
                  highlight=False)


@maintenance_app.command("stop")
def maintenance_stop(
    ctx: typer.Context,
    window_id: Annotated[str | None, typer.Argument(help="Window id (default: every open window).")] = None,
) -> None:
    """Close a maintenance window (or all open ones)."""
    settings = state(ctx).settings()

    async def go(bus: Bus) -> list[str]:
        return await (await MaintenanceStore.open(bus)).stop(window_id)

    ended = with_bus(settings, go)
    console.print(f"closed {', '.join(ended)}" if ended else "no open maintenance window", highlight=False)


@maintenance_app.command("list")
def maintenance_list(ctx: typer.Context) -> None:
    """Open ad-hoc windows (cluster-wide) and the configured recurring ones."""
    settings = state(ctx).settings()

    async def go(bus: Bus) -> list[AdhocWindow]:
        return await (await MaintenanceStore.open(bus)).windows()

    table = Table("id", "targets", "from", "until", "reason", "by")
    for w in with_bus(settings, go):
        table.add_row(w.id, ",".join(w.targets), when(w.start), when(w.until), w.reason, w.by)
    for c in settings.policy.maintenance:
        table.add_row(c.name, ",".join(c.targets), f"{','.join(c.days)} {c.start}", c.end, "configured", "config")
    console.print(table)


# ---- approvals -----------------------------------------------------------------------------
def approvals(
    ctx: typer.Context,
    show_all: Annotated[bool, typer.Option("--all", help="Include decided and finished ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Actions waiting for your approval (ASK_FIRST)."""
    settings = state(ctx).settings()

    async def go(bus: Bus) -> list[ApprovalRecord]:
        return await (await ApprovalStore.open(bus)).list(None if show_all else OPEN_STATES)

    recs = with_bus(settings, go)
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in recs]))
        return
    now = time.time()
    table = Table("id", "state", "kind", "target", "node", "hash", "expires", "why")
    for r in recs:
        table.add_row(r.id, r.effective_state(now), r.action.kind, r.action.target, r.node, r.action_hash[:12],
                      when(r.expires_at), r.decision.reason)
    console.print(table)


def _decide(ctx: typer.Context, approval_id: str, approve_it: bool, note: str, expect_hash: str | None,
            wait: float) -> None:
    settings = state(ctx).settings()

    async def go(bus: Bus) -> tuple[ApprovalRecord, bool]:
        store = await ApprovalStore.open(bus)
        if approve_it:
            rec, changed = await store.approve(approval_id, _who(), expect_hash, note)
        else:
            rec, changed = await store.deny(approval_id, _who(), note)
        deadline = time.monotonic() + wait
        while approve_it and rec.state in ("approved", "executing") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            rec = await store.get(approval_id)
        return rec, changed

    rec, changed = with_bus(settings, go)
    verb = "approved" if approve_it else "denied"
    head = f"{approval_id} {verb}" if changed else f"{approval_id} was already {verb}"
    console.print(f"{head}: {rec.action.kind} {rec.action.target} -> {rec.state}", highlight=False, markup=False)
    if rec.error:
        console.print(f"  error: {rec.error}", highlight=False, markup=False)
    if rec.result:
        console.print(f"  result: {json.dumps(rec.result)}", highlight=False, markup=False)
    if rec.state == "failed" or rec.state == "refused":
        raise typer.Exit(1)


def approve(
    ctx: typer.Context,
    approval_id: Annotated[str, typer.Argument(help="Approval id (see 'hydra approvals').")],
    expect_hash: Annotated[str | None, typer.Option("--hash", help="Only if the action hash starts with this.")]
    = None,
    note: Annotated[str, typer.Option("--note", help="Why; kept with the approval.")] = "",
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for the outcome.")] = 15.0,
) -> None:
    """Approve a waiting action: it runs exactly once, on the node that asked."""
    _decide(ctx, approval_id, True, note, expect_hash, wait)


def deny(
    ctx: typer.Context,
    approval_id: Annotated[str, typer.Argument(help="Approval id (see 'hydra approvals').")],
    note: Annotated[str, typer.Option("--note", help="Why; kept with the approval.")] = "",
) -> None:
    """Deny a waiting action."""
    _decide(ctx, approval_id, False, note, None, 0.0)


# ---- audit ---------------------------------------------------------------------------------
def _since(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return time.time() - parse_duration(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        fail(f"--since: expected a duration (2h, 30m) or an ISO time (2025-01-31T08:00), got {text!r}")


@audit_app.command("log")
def audit_log(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--since", help="2h, 30m, or an ISO time.")] = None,
    node: Annotated[str | None, typer.Option("--node", "-n", help="Only this node's events.")] = None,
    type_prefix: Annotated[str | None, typer.Option("--type", help="Only types starting with this.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON event per line.")] = False,
) -> None:
    """Decisions, actions, approvals and other events, oldest first."""
    settings = state(ctx).settings()
    start = _since(since)

    async def go(bus: Bus) -> list[StoredEvent]:
        return await read_events(bus, since=start, node=node)

    events = [e for e in with_bus(settings, go)
              if e.event is not None and (type_prefix is None or e.event.type.startswith(type_prefix))]
    if as_json:
        for e in events:
            assert e.event is not None
            typer.echo(json.dumps({"seq": e.seq, **e.event.model_dump(mode="json")}))
        return
    table = Table("seq", "time", "node", "type", "what")
    for e in events:
        ev = e.event
        assert ev is not None
        table.add_row(str(e.seq), when(ev.ts), ev.node, ev.type, _what(ev.data))
    console.print(table)


def _what(d: dict[str, Any]) -> str:
    """One line for an event in the log table: action kind, target, level or status, approval id."""
    action = d.get("action") or {}
    what = " ".join(str(x) for x in (
        d.get("kind") or action.get("kind"),
        d.get("target") or action.get("target"),
        (d.get("decision") or {}).get("level") or d.get("status") or "",
        d.get("approval_id") or "",
    ) if x)
    return what or json.dumps(d)[:80]


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check every node's hash chain; exit 1 if an event was removed or edited."""
    settings = state(ctx).settings()

    async def go(bus: Bus) -> dict[str, Any]:
        return {n: r.as_dict() for n, r in (await verify_all(bus)).items()}

    reports = with_bus(settings, go)
    bad = [r for r in reports.values() if not r["ok"]]
    if as_json:
        console.print_json(json.dumps(reports))
    else:
        for r in reports.values():
            mark = "[green]ok[/]" if r["ok"] else "[bold red]BROKEN[/]"
            head = "live head checked" if r["head"] else (
                "recorded head checked" if r["recorded"] else "no head known: newest events unchecked")
            console.print(f"{mark} {r['node']}: {r['events']} events ({head})", highlight=False)
            for n in r["notes"]:
                console.print(f"    note: {n}", highlight=False, markup=False)
            for p in r["problems"]:
                at = f"seq {p['seq']}" if p["seq"] else "head"
                console.print(f"    {p['kind']} at {at}: {p['detail']}", highlight=False, markup=False)
    if bad:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add every policy command to the top-level ``hydra`` app."""
    app.add_typer(policy_app, name="policy")
    app.add_typer(maintenance_app, name="maintenance")
    app.add_typer(audit_app, name="audit")
    app.command("approvals")(approvals)
    app.command("approve")(approve)
    app.command("deny")(deny)
