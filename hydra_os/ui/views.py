"""What each page shows, gathered from the node's own routes in parallel. A source that is down
(no scheduler on this node, the bus away) leaves its part of the page with its one-line error."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hydra_os.backup.status import BackupStatus
from hydra_os.bus.client import Bus
from hydra_os.config import Settings
from hydra_os.errors import HydraError
from hydra_os.node import rpc
from hydra_os.node.membership import read_nodes
from hydra_os.ui.errors import ActionFailedError, FormError
from hydra_os.ui.nodeapi import NodeApi
from memory.protocols import MemoryStack


@dataclass(frozen=True)
class NodeRow:
    id: str
    roles: list[str]
    up: bool
    cpu_percent: float
    mem_used_pct: float
    mem_total_mb: int
    gpus: list[dict[str, Any]]


def node_rows(nodes: list[dict[str, Any]], gone_after: float) -> list[NodeRow]:
    now = time.time()
    rows = []
    for n in nodes:
        total = int(n.get("mem_total_mb") or 0)
        used = total - int(n.get("mem_available_mb") or 0)
        rows.append(NodeRow(
            id=str(n["id"]), roles=list(n.get("roles", [])), up=now - float(n.get("heartbeat_at", 0)) < gone_after,
            cpu_percent=float(n.get("cpu_percent", 0.0)), mem_used_pct=100.0 * used / total if total else 0.0,
            mem_total_mb=total, gpus=list(n.get("gpus", [])),
        ))
    return rows


def _tonight(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in tasks if t.get("window") == "overnight" and t.get("state") in ("queued", "pending")]


async def approvals(api: NodeApi) -> dict[str, Any]:
    """Open approvals, and the ten decided last with how they ended (the result of a click)."""
    items, err = await api.optional("/v1/approvals", all="true")
    items = items or []
    open_ = [a for a in items if a.get("state") in ("pending", "approved", "executing")]
    done = sorted((a for a in items if a not in open_), key=lambda a: -float(a.get("finished_at") or
                                                                            a.get("decided_at") or 0))[:10]
    return {"approvals": open_, "decided": done, "error": err}


class BackupResult(StrEnum):
    OK = "OK"
    FAILED = "FAILED"
    NONE = "none yet"


@dataclass(frozen=True)
class BackupRow:
    """The overview's last backup: ``warning`` is the healing check's reason (failed, or older than
    ``backup.max_age``), or that none was ever taken."""

    destination: str
    result: BackupResult
    warning: str | None
    name: str | None = None
    age_h: float | None = None
    size: str | None = None


def human_size(n: int) -> str:
    return f"{n / 1e3:.0f} kB" if n < 1_000_000 else f"{n / 1e6:.1f} MB" if n < 1_000_000_000 else f"{n / 1e9:.2f} GB"


def backup_row(body: dict[str, Any], now: float) -> BackupRow:
    """From ``GET /v1/backups``: its ``last`` is the node's record (:mod:`hydra_os.backup.status`)."""
    dest = str(body.get("destination", "?"))
    if body.get("last") is None:
        return BackupRow(dest, BackupResult.NONE, "no backup yet: run hydra backup now, or wait for the nightly one")
    st = BackupStatus.model_validate(body["last"])
    size = human_size(st.last_ok_size or 0) if st.last_ok_at is not None else None
    age = st.age(now) / 3600 if st.last_ok_at is not None else None
    result = BackupResult.OK if st.last_error is None else BackupResult.FAILED
    return BackupRow(dest, result, st.overdue(now), st.last_ok_name, age, size)


async def last_backup(api: NodeApi) -> tuple[BackupRow | None, str | None]:
    """(row, None); (None, None) where this node takes no backups (no worker role: no route); else the error."""
    try:
        return backup_row(await api.get("/v1/backups"), time.time()), None
    except ActionFailedError as e:
        return None, None if e.status == 404 else f"backups: {e}"


async def overview(api: NodeApi) -> dict[str, Any]:
    (status, e1), (nodes, e2), (approvals, e3), (incidents, e4), (tasks, e5), (backup, e6) = await asyncio.gather(
        api.optional("/v1/status"), api.optional("/v1/nodes"), api.optional("/v1/approvals"),
        api.optional("/v1/healing/incidents"), api.optional("/v1/tasks"), last_backup(api))
    status = status or {}
    gateway = status.get("components", {}).get("gateway", {})
    return {
        "status": status,
        "nodes": node_rows(nodes or [], 15.0),
        "endpoints": gateway.get("endpoints", {}),
        "approvals": [a for a in approvals or [] if a.get("state") == "pending"],
        "incidents": incidents or [],
        "tonight": _tonight(tasks or []),
        "backup": backup,
        "errors": [e for e in (e1, e2, e3, e4, e5, e6) if e],
    }


async def tasks(api: NodeApi) -> dict[str, Any]:
    (items, err), (schedule, serr) = await asyncio.gather(api.optional("/v1/tasks", all="true"),
                                                          api.optional("/v1/schedule/stored"))
    items = sorted(items or [], key=lambda t: -float(t.get("updated_at", 0)))[:100]
    running = [t for t in items if t.get("state") == "running"][:20]
    details = await asyncio.gather(*(api.optional(f"/v1/tasks/{t['id']}") for t in running))
    steps = {t["id"]: [c["step"] for c in (d or {}).get("checkpoints", [])] for t, (d, _) in zip(running, details,
                                                                                               strict=True)}
    return {"active": [t for t in items if t.get("state") not in ("succeeded", "failed", "cancelled")],
            "steps": steps,
            "finished": [t for t in items if t.get("state") in ("succeeded", "failed", "cancelled")],
            "tonight": _tonight(items), "schedule": schedule or {}, "error": err, "schedule_error": serr}


async def healing(api: NodeApi) -> dict[str, Any]:
    (incidents, err), (children, cerr) = await asyncio.gather(api.optional("/v1/healing/incidents", all="true"),
                                                              api.optional("/v1/healing/children"))
    return {"incidents": sorted(incidents or [], key=lambda i: -float(i.get("last_seen", 0)))[:50],
            "children": children or [], "error": err or cerr}


async def memory(stack: Callable[[], Awaitable[MemoryStack]], entity: str, at: str, tz: str) -> dict[str, Any]:
    """Core blocks, the newest learnings, and (when asked) the facts about ``entity`` valid ``at``."""
    out: dict[str, Any] = {"blocks": [], "learnings": [], "facts": None, "entity": entity, "at": at,
                           "memory_error": None}
    try:
        m = await stack()
        out["blocks"] = await m.core.list_blocks()
        out["learnings"] = list(reversed(await m.learnings.list_learnings(limit=20)))
        if entity:
            when = None
            if at:
                try:
                    when = datetime.fromisoformat(at)
                except ValueError:
                    raise FormError(f"at: expected a time like 2026-11-20T18:00, got {at!r}") from None
                when = when if when.tzinfo else when.replace(tzinfo=ZoneInfo(tz))
            out["facts"] = await m.graph.facts_about(entity, when)
    except HydraError as e:
        out["memory_error"] = str(e)
    return out


async def models(bus: Bus, gone_after: float) -> dict[str, Any]:
    """``models.list`` of every live GPU node (the verb ``hydra models list`` asks); one that does not
    answer is named with its one-line error (and so is a node list the bus did not give)."""
    try:
        gpu_nodes = [n.id for n in await read_nodes(bus, gone_after) if "gpu" in n.roles]
    except HydraError as e:
        return {"model_lists": [], "model_errors": [f"the node list: {e}"]}
    answers = await asyncio.gather(*(rpc.call(bus, n, "models.list", timeout=5) for n in gpu_nodes),
                                   return_exceptions=True)
    lists, errors = [], []
    for node, a in zip(gpu_nodes, answers, strict=True):
        if isinstance(a, HydraError):
            errors.append(f"{node}: {a}")
        elif isinstance(a, BaseException):
            raise a
        else:
            lists.append(a)
    return {"model_lists": lists, "model_errors": errors}


def briefing_dir(settings: Settings) -> Path:
    return settings.intake.briefing.dir or settings.node.state_dir / "briefings"


def briefings(settings: Settings, name: str = "") -> dict[str, Any]:
    """The archive (newest first) and one briefing's text: ``name`` when it is in the archive (only
    names listed from the folder are opened), else the latest (blocking: run it in a thread)."""
    d = briefing_dir(settings)
    files = sorted(d.glob("*.md"), reverse=True)[:60] if d.is_dir() else []
    shown = next((f for f in files if f.stem == name), files[0] if files else None)
    return {"archive": [f.stem for f in files], "shown": shown.stem if shown else None,
            "text": shown.read_text(encoding="utf-8", errors="replace") if shown else None,
            "is_latest": bool(files) and shown == files[0]}
