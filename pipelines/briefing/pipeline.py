"""The ``briefing.morning`` task kind (what the scheduler enqueues at the owner's wake time) and
:func:`run_briefing` (``hydra briefing``): collect -> opening -> render -> deliver -> store.

"Since the last briefing": ``params.since`` (Unix time) when given, else the ``until`` of the last
briefing task that succeeded, else ``intake.briefing.lookback_h`` hours back. The opening paragraph is
written by a model when one is up; without one the briefing is complete all the same.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from loguru import logger

from hydra_os.bus.client import Bus
from hydra_os.chat.client import ChatModel
from hydra_os.chat.errors import ChatError
from hydra_os.config import Settings
from hydra_os.sections.briefing import BriefingConfig
from hydra_os.tasks.registry import TaskContext, TaskRegistry
from hydra_os.tasks.steps import Pipeline, Step
from hydra_os.tasks.store import TaskStore
from memory.errors import MemoryUnavailableError
from memory.extract import MemoryWriter
from memory.protocols import MemoryStack
from pipelines.briefing import collect as c
from pipelines.briefing import deliver, render
from pipelines.briefing.model import Briefing
from pipelines.creative_digest import DigestRequest
from pipelines.research.store import chunks

KIND = "briefing.morning"
MEMORY_WAIT_S = 30.0
"""How long the briefing waits for a memory node that does not answer (at a node's first start the catch-up
briefing runs about a second before its memory node serves); after that the section says memory is down."""
OPENING_SYSTEM = ("Write the opening paragraph of the owner's morning briefing: two or three plain sentences, "
                  "warm and factual, only from the facts given; no lists, no headings.")


@dataclass
class BriefingDeps:
    settings: Settings
    bus: Bus
    chat: ChatModel | None = None
    memory: Callable[[], Awaitable[MemoryStack]] | None = None
    api_url: Callable[[], str | None] | None = None

    @property
    def config(self) -> BriefingConfig:
        return self.settings.intake.briefing

    @property
    def directory(self) -> Path:
        return self.config.dir or self.settings.node.state_dir / "briefings"


async def collect(deps: BriefingDeps, since: float | None, until: float | None = None,
                  kind: str = KIND) -> tuple[Briefing, dict[str, Any]]:
    """The briefing's facts, and the memory counts to compare with next time."""
    s, cfg = deps.settings, deps.config
    store = TaskStore(deps.bus)
    previous = await c.last_briefing(store, kind)
    if since is None:
        since = float(previous.result["until"]) if previous else time.time() - cfg.lookback_h * 3600
    b = Briefing(since=since, until=until or time.time(), timezone=s.owner.timezone, owner=s.owner.name)
    base = cfg.public_url or (deps.api_url() if deps.api_url else None)
    await c.guarded(b, "tasks", c.collect_tasks(b, store, s, base, cfg.max_items))
    await c.guarded(b, "events", c.collect_events(b, deps.bus, cfg.max_items))
    await c.guarded(b, "approvals", c.collect_approvals(b, deps.bus, cfg.max_items))
    if s.ui.public_url and b.approvals:
        c.add_approval_links(b, s.ui.public_url, s.node.state_dir)
    await c.guarded(b, "nodes", c.collect_nodes(b, deps.bus, s.membership.gone_after))
    await c.guarded(b, "health", c.collect_health(b, deps.bus, s.membership.gone_after))
    await c.guarded(b, "backup", c.collect_backup(b, s))
    digest = DigestRequest(since=b.since, until=b.until, max_count=cfg.thumbnails, max_px=cfg.thumbnail_px)
    await c.guarded(b, "creative", c.collect_creative(b, deps.bus, store, s.membership.gone_after, digest))
    if deps.memory is not None:
        prev_counts = previous.result.get("memory_counts") if previous else None

        await c.guarded(b, "memory", _collect_memory(deps.memory, b, prev_counts))
        if any(p.startswith("memory:") for p in b.problems):
            b.memory.error = next(p for p in b.problems if p.startswith("memory:")).removeprefix("memory: ")
    else:
        b.memory.error = "no memory client"
    m = b.memory
    counts = {"passages": m.passages, "entities": m.entities, "relations": m.relations} if not m.error else {}
    return b, counts


async def _collect_memory(memory: Callable[[], Awaitable[MemoryStack]], b: Briefing,
                          prev_counts: dict[str, Any] | None, wait_s: float = MEMORY_WAIT_S) -> None:
    """The memory section; a memory node that does not answer yet is asked again, once a second, for up to
    ``wait_s`` (a fresh node's catch-up briefing runs while its memory node still opens its stores)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            await c.collect_memory(b, await memory(), prev_counts)
            return
        except MemoryUnavailableError:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(1.0)


async def opening(deps: BriefingDeps, b: Briefing) -> str | None:
    if not deps.config.opening or deps.chat is None or not await deps.chat.available():
        return None
    facts = render.markdown(b.model_copy(update={"opening": None}))[:6000]
    try:
        text = await deps.chat.chat([{"role": "system", "content": OPENING_SYSTEM},
                                     {"role": "user", "content": facts}], max_tokens=200, temperature=0.4)
    except ChatError as e:
        logger.info("briefing without an opening: {}", e)
        return None
    return " ".join(text.split())[:1200] or None


async def render_and_write(deps: BriefingDeps, b: Briefing, run_id: str) -> dict[str, Any]:
    md, page = render.markdown(b), render.html(b)
    stem = f"{datetime.fromtimestamp(b.until, ZoneInfo(b.timezone)):%Y-%m-%d-%H%M}-{run_id}"
    files = await deliver.to_files(deps.directory, stem, md, page)
    return {"markdown": md, "files": files, "title": render.title(b), "headline": render.headline(b)}


async def store(deps: BriefingDeps, run_id: str, md: str) -> dict[str, Any]:
    if deps.memory is None:
        return {"stored": 0, "error": "no memory client"}
    added = await MemoryWriter(await deps.memory()).record_pipeline_result("briefing", run_id, chunks(md),
                                                                           tags=["briefing"])
    return {"stored": len(added)}


def build(deps: BriefingDeps, kind: str = KIND) -> Pipeline:
    async def s_collect(ctx: TaskContext, _: dict[str, Any]) -> dict[str, Any]:
        since = ctx.params.get("since")
        b, counts = await collect(deps, float(since) if isinstance(since, int | float) else None, kind=kind)
        return {"briefing": b.model_dump(), "memory_counts": counts}

    async def s_opening(ctx: TaskContext, r: dict[str, Any]) -> dict[str, Any]:
        return {"opening": await opening(deps, Briefing.model_validate(r["collect"]["briefing"]))}

    async def s_render(ctx: TaskContext, r: dict[str, Any]) -> dict[str, Any]:
        b = Briefing.model_validate({**r["collect"]["briefing"], "opening": r["opening"]["opening"]})
        return await render_and_write(deps, b, ctx.task.id)

    async def s_deliver(ctx: TaskContext, r: dict[str, Any]) -> dict[str, Any]:
        rr = r["render"]
        page = await _read(rr["files"][1])
        link = f"{deps.config.public_url.rstrip('/')}/v1/tasks/{ctx.task.id}" if deps.config.public_url else None
        delivered: dict[str, Any] = await deliver.deliver(
            deps.config, rr["title"], rr["markdown"], page, rr["headline"], link
        )
        return delivered

    async def s_store(ctx: TaskContext, r: dict[str, Any]) -> dict[str, Any]:
        return await store(deps, ctx.task.id, r["render"]["markdown"])

    def finish(r: dict[str, Any]) -> dict[str, Any]:
        b = r["collect"]["briefing"]
        return {"summary": r["render"]["headline"], "since": b["since"], "until": b["until"],
                "files": r["render"]["files"], "delivered": r["deliver"], "opening": r["opening"]["opening"],
                "memory_counts": r["collect"]["memory_counts"], "stored": r["store"].get("stored", 0),
                "problems": b["problems"]}

    return Pipeline([Step("collect", s_collect), Step("opening", s_opening), Step("render", s_render),
                     Step("deliver", s_deliver), Step("store", s_store)], finish=finish)


async def _read(path: str) -> str:
    return await asyncio.to_thread(Path(path).read_text, encoding="utf-8")


async def run_briefing(deps: BriefingDeps, since: float | None, *, send: bool = True,
                       run_id: str = "cli") -> dict[str, Any]:
    """The same steps without a task (``hydra briefing``): returns what was written and sent."""
    b, counts = await collect(deps, since)
    b.opening = await opening(deps, b)
    rr = await render_and_write(deps, b, run_id)
    delivered = (await deliver.deliver(deps.config, rr["title"], rr["markdown"], render.html(b),
                                          rr["headline"]) if send else {})
    stored = await store(deps, f"{run_id}-{int(b.until)}", rr["markdown"]) if send else {"stored": 0}
    return {**rr, "delivered": delivered, "memory_counts": counts, **stored, "problems": b.problems}


def register(registry: TaskRegistry, deps: BriefingDeps, kind: str = KIND) -> None:
    registry.register(kind, build(deps, kind), "The morning briefing: Markdown + HTML, delivered and stored")
