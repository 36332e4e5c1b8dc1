"""Reading everything the briefing reports, each part on its own (one part failing is noted, not fatal):

- tasks finished since ``since`` (``hydra_tasks``), their summaries and links to the full results;
- incidents and what was done (``healing.incident.*`` and ``policy.outcome`` events on ``HYDRA_EVENTS``);
- approvals waiting (``hydra_approvals``); node and GPU health (``hydra_nodes``);
- each live node's service availability over 24 h / 30 d and its NixOS record (failed revisions,
  automatic rollbacks) over node RPC (``heal.uptime``, ``heal.nixos``);
- memory growth (archival/graph counts against the last briefing's, learnings added);
- the last backup of this node (age, size; `hydra_os.backup.status`);
- the creative studio's images of the period, with thumbnails (`pipelines.creative.digest`);
- what is queued for tonight's overnight window.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hydra_os.backup.status import read_status
from hydra_os.bus.client import Bus
from hydra_os.config import Settings
from hydra_os.errors import HydraError, RpcNoResponderError
from hydra_os.node import rpc
from hydra_os.node.membership import read_nodes
from hydra_os.policy.approval_links import ApprovalLinks, Verb
from hydra_os.policy.approvals import ApprovalStore
from hydra_os.policy.audit import read_events
from hydra_os.tasks.model import ACTIVE, Task
from hydra_os.tasks.store import TaskStore
from hydra_os.tasks.windows import overnight_window
from memory.errors import MemoryLayerError
from memory.protocols import MemoryStack
from pipelines.briefing.model import (
    ApprovalItem,
    Briefing,
    IncidentItem,
    MemoryGrowth,
    NodeItem,
    ServiceUptime,
    TaskItem,
)
from pipelines.creative_digest import CreativeDigest, DigestRequest, failed_images
from pipelines.creative_kinds import ASSETS_KIND, SCENE_KIND, VERB


def summary_of(task: Task) -> str:
    r = task.result
    if isinstance(r, dict):
        for key in ("summary", "message", "reminded"):
            if isinstance(r.get(key), str):
                return str(r[key])[:600]
        return ", ".join(f"{k}: {v}" for k, v in list(r.items())[:4] if isinstance(v, str | int | float))[:300]
    return "" if r is None else str(r)[:300]


def task_item(t: Task, base_url: str | None) -> TaskItem:
    link = f"{base_url.rstrip('/')}/v1/tasks/{t.id}" if base_url else None
    return TaskItem(id=t.id, kind=t.kind, title=t.title or t.kind, state=t.state, finished_at=t.finished_at or 0,
                    summary=summary_of(t), error=t.error, link=link)


async def last_briefing(store: TaskStore, kind: str) -> Task | None:
    done = [t for t in await store.all_tasks() if t.kind == kind and t.state == "succeeded"
            and isinstance(t.result, dict) and "until" in t.result]
    return max(done, key=lambda t: float(t.result["until"]), default=None)


def routine_kinds(settings: Settings) -> set[str]:
    sc = settings.tasks.scheduler
    return {sc.health_kind, sc.memory_maintenance_kind, sc.briefing_kind}


async def collect_tasks(b: Briefing, store: TaskStore, settings: Settings, base_url: str | None, limit: int) -> None:
    routine = routine_kinds(settings)
    window = overnight_window(settings.owner)
    opens = window.next_open(time.time())
    closes = window.next_close(opens)
    for t in await store.all_tasks():
        if t.terminal and b.since <= (t.finished_at or 0) < b.until:
            _file_finished(b, t, routine, base_url)
        elif t.state in ACTIVE and t.kind not in routine and _runs_tonight(t, opens, closes):
            b.tonight.append(task_item(t, None))
    b.tasks = sorted(b.tasks, key=lambda i: -i.finished_at)[:limit]
    b.failed = sorted(b.failed, key=lambda i: -i.finished_at)[:limit]
    b.tonight = b.tonight[:limit]
    tz = ZoneInfo(settings.owner.timezone)
    b.tonight_window = (f"{datetime.fromtimestamp(opens, tz):%a %H:%M}-{datetime.fromtimestamp(closes, tz):%H:%M} "
                        f"{tz.key}")


def _file_finished(b: Briefing, t: Task, routine: set[str], base_url: str | None) -> None:
    """A task that finished in the briefing's period: counted when routine, listed otherwise."""
    if t.kind in routine and t.state == "succeeded":
        b.routine[t.kind] = b.routine.get(t.kind, 0) + 1
    elif t.state == "failed":
        b.failed.append(task_item(t, base_url))
    elif t.state == "succeeded":
        b.tasks.append(task_item(t, base_url))


def _runs_tonight(t: Task, opens: float, closes: float) -> bool:
    due = max(t.not_before or 0, t.eligible_at or 0)
    return t.window == "overnight" or bool(due and opens <= due < closes)


def _action_line(d: dict[str, Any]) -> str:
    what = f"{d.get('kind')} on {d.get('target')}"
    status = d.get("status")
    tail = f": {d['error']}" if d.get("error") else ""
    return f"{what}: {status} ({d.get('level')}, rule {d.get('rule_id')}){tail}"


async def collect_events(b: Briefing, bus: Bus, limit: int) -> None:
    events = await read_events(bus, since=b.since)
    incidents: dict[str, IncidentItem] = {}
    for se in events:
        ev = se.event
        if ev is None or ev.ts >= b.until:
            continue
        d = ev.data
        if ev.type.startswith("healing.incident.") and d.get("incident"):
            inc = incidents.setdefault(str(d["incident"]), IncidentItem(
                id=str(d["incident"]), summary=str(d.get("summary", "")), status="", check=str(d.get("check", "")),
                at=ev.ts))
            inc.status = ev.type.rsplit(".", 1)[1]
            if d.get("outcome"):
                line = f"{d['outcome']}" if isinstance(d["outcome"], str) else str(d["outcome"])[:200]
                if line not in inc.actions:
                    inc.actions.append(line)
        elif ev.type == "policy.outcome" and d.get("status") in ("succeeded", "failed", "refused"):
            b.actions.append(_action_line(d))
    b.incidents = sorted(incidents.values(), key=lambda i: i.at)[:limit]
    b.actions = b.actions[-limit:]


async def collect_approvals(b: Briefing, bus: Bus, limit: int) -> None:
    store = await ApprovalStore.open(bus)
    now = time.time()
    for rec in await store.list():
        if rec.effective_state(now) == "pending":
            b.approvals.append(ApprovalItem(id=rec.id, summary=rec.action.summary or f"{rec.action.kind} "
                                            f"{rec.action.target}", reason=rec.decision.reason,
                                            expires_at=rec.expires_at, node=rec.node))
    b.approvals = sorted(b.approvals, key=lambda a: a.expires_at)[:limit]


def add_approval_links(b: Briefing, public_url: str, state_dir: Path) -> None:
    """Approve/Deny links of the web page under each waiting approval (signed with this node's key)."""
    links = ApprovalLinks.open(state_dir)
    for a in b.approvals:
        a.approve_url = links.url(public_url, a.id, Verb.APPROVE, a.expires_at)
        a.deny_url = links.url(public_url, a.id, Verb.DENY, a.expires_at)


async def collect_nodes(b: Briefing, bus: Bus, gone_after: float) -> None:
    for n in await read_nodes(bus, gone_after):
        warnings = []
        mem_free = 100.0 * n.mem_available_mb / n.mem_total_mb if n.mem_total_mb else 0.0
        if mem_free < 10:
            warnings.append(f"memory {mem_free:.0f}% free")
        gpus = []
        for g in n.gpus:
            temp = f", {g.temperature_c}°C" if g.temperature_c is not None else ""
            util = f", {g.utilization_pct}% busy" if g.utilization_pct is not None else ""
            gpus.append(f"GPU{g.index} {g.name}: {g.memory_free_mb}/{g.memory_total_mb} MB free{util}{temp}")
            if g.temperature_c is not None and g.temperature_c >= 85:
                warnings.append(f"GPU{g.index} at {g.temperature_c}°C")
        b.nodes.append(NodeItem(id=n.id, roles=list(n.roles), healthy=not warnings, cpu_pct=n.cpu_percent,
                                mem_free_pct=round(mem_free, 1), gpus=gpus, warnings=warnings))


RPC_TIMEOUT_S = 5.0


async def collect_health(b: Briefing, bus: Bus, gone_after: float) -> None:
    """Availability per watched service and the NixOS record of every live node."""
    for n in await read_nodes(bus, gone_after):
        try:
            await _node_health(b, bus, n.id)
        except HydraError as e:  # one node not answering must not hide the others
            b.problems.append(f"health of {n.id}: {e}")


async def _node_health(b: Briefing, bus: Bus, node: str) -> None:
    up = await rpc.call(bus, node, "heal.uptime", timeout=RPC_TIMEOUT_S)
    for a in up.get("services", []):
        b.uptime.append(ServiceUptime(node=node, target=str(a["target"]), up=bool(a["up"]),
                                      availability_24h=a.get("availability_24h"),
                                      availability_30d=a.get("availability_30d"),
                                      outages_30d=int(a.get("down_transitions_30d", 0))))
    rec = await rpc.call(bus, node, "heal.nixos", timeout=RPC_TIMEOUT_S)
    for f in rec.get("failed_revisions", []):
        if b.since <= float(f["at"]) < b.until:
            b.nixos.append(f"{node}: revision {f['revision']} failed its health gate and was rolled back: "
                           f"{f['reason']}")
    for r in rec.get("rollbacks", []):
        if b.since <= float(r["at"]) < b.until:
            how = "rolled back" if r["ok"] else "tried to roll back and failed"
            b.nixos.append(f"{node}: {how} NixOS from {r['from_system']} to {r['to_system'] or '?'} "
                           f"because of {r['because']}" + ("" if r["ok"] else f": {r['detail']}"))


async def collect_memory(b: Briefing, stack: MemoryStack, previous: dict[str, Any] | None) -> None:
    g = await stack.graph.counts()
    new_learnings = await stack.learnings.list_learnings(since=datetime.fromtimestamp(b.since, UTC))
    m = MemoryGrowth(passages=await stack.archival.count(), entities=g.get("entities"),
                     relations=g.get("relations"), learnings_new=len(new_learnings))
    if previous:
        for k in ("passages", "entities", "relations"):
            now_v, before = getattr(m, k), previous.get(k)
            if isinstance(now_v, int) and isinstance(before, int):
                m.delta[k] = now_v - before
    b.memory = m


async def collect_backup(b: Briefing, settings: Settings) -> None:
    """This node's backup record (hydra_os.backup.status): the last backup's age and size."""
    st = await asyncio.to_thread(read_status, settings.node.state_dir)
    b.backup = st.line() if st is not None else "no backup recorded on this node yet ('hydra backup now')"


async def guarded(b: Briefing, what: str, coro: Any) -> None:
    try:
        await coro
    except (HydraError, MemoryLayerError, OSError) as e:
        b.problems.append(f"{what}: {e}")
    except Exception as e:  # a library error in one part (nats, a store) must not lose the whole briefing
        b.problems.append(f"{what}: {type(e).__name__}: {e}")


CREATIVE_RPC_TIMEOUT_S = 30.0  # the node reads every project and decodes the shown images


async def collect_creative(b: Briefing, bus: Bus, tasks: TaskStore, gone_after: float, req: DigestRequest) -> None:
    """What the creative studios made in the period (each live node's ``creative`` verb, op ``digest``), what
    failed and what waits for review; a node without the studio has no responder and is skipped."""
    d = CreativeDigest()
    for n in await read_nodes(bus, gone_after):
        try:
            answer = await rpc.call(bus, n.id, VERB, {"op": "digest", **req.model_dump()},
                                    timeout=CREATIVE_RPC_TIMEOUT_S)
        except RpcNoResponderError:
            continue
        except HydraError as e:  # one node failing must not hide the others
            b.problems.append(f"creative studio of {n.id}: {e}")
            continue
        d.add(CreativeDigest.model_validate(answer), req.max_count)
    for t in await tasks.all_tasks():
        if t.kind in (SCENE_KIND, ASSETS_KIND) and t.terminal and b.since <= (t.finished_at or 0) < b.until:
            d.failed_tasks += t.state == "failed"
            d.failed_images += failed_images(t.result)
    b.creative = None if d.empty() else d
