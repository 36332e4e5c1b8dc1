"""The ``research.topic`` task kind: six checkpointed steps (plan, gather, fetch, rank, synthesise, store).

Parameters: ``topic`` (required). Each step's result is checkpointed by the step runner, so a worker
killed mid-run resumes at the first unfinished step on redelivery. The task result is small: the
summary, whether the synthesis was done or is pending a model, the cited sources, and where the full
report is (a file on the worker node, and archival memory under ``pipeline:research:<task>``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel

from hydra_os.chat.client import ChatModel
from hydra_os.secrets import read_optional_secret
from hydra_os.sections.research import ResearchConfig
from hydra_os.tasks.errors import PermanentTaskError
from hydra_os.tasks.registry import TaskContext, TaskRegistry
from hydra_os.tasks.steps import Pipeline, Step, StepFn
from memory.protocols import MemoryStack
from pipelines.research.errors import SourceError
from pipelines.research.extract import fetch_text
from pipelines.research.model import Document, Hit
from pipelines.research.plan import plan_queries, plan_with_model
from pipelines.research.rank import rank_documents, rank_hits
from pipelines.research.results import (
    Done,
    Fetched,
    FetchFailure,
    Gathered,
    Plan,
    Ranked,
    Stored,
    Synthesis,
)
from pipelines.research.sources.arxiv import ArxivSource
from pipelines.research.sources.base import Source
from pipelines.research.sources.feeds import FeedSource
from pipelines.research.sources.github import GithubReleasesSource
from pipelines.research.sources.local import LocalFolderSource
from pipelines.research.sources.searxng import SearxngSource
from pipelines.research.store import store_in_memory, write_atomic
from pipelines.research.synth import synthesise as write_report

KIND = "research.topic"
MAX_GATHERED = 80


@dataclass
class ResearchDeps:
    config: ResearchConfig
    state_dir: Path
    timezone: str = "UTC"
    chat: ChatModel | None = None
    memory: Callable[[], Awaitable[MemoryStack]] | None = None

    @property
    def report_dir(self) -> Path:
        return self.config.report_dir or self.state_dir / "research"

    def http(self) -> httpx.AsyncClient:
        c = self.config
        return httpx.AsyncClient(timeout=c.fetch_timeout_s, headers={"User-Agent": c.user_agent},
                                 limits=httpx.Limits(max_connections=c.concurrency * 2))

    def sources(self, http: httpx.AsyncClient) -> list[Source]:
        c = self.config
        out: list[Source] = []
        if c.searxng_url:
            out.append(SearxngSource(http, c.searxng_url))
        if c.arxiv_url:
            out.append(ArxivSource(http, c.arxiv_url))
        if c.feeds:
            out.append(FeedSource(http, c.feeds))
        if c.github_repos:
            token = read_optional_secret(c.github_token_file, "GitHub token")
            out.append(GithubReleasesSource(http, c.github_api_url, c.github_repos, token))
        if c.local_dirs:
            out.append(LocalFolderSource(c.local_dirs))
        return out


def _topic(ctx: TaskContext) -> str:
    topic = ctx.params.get("topic")
    if not isinstance(topic, str) or not topic.strip():
        raise PermanentTaskError("params.topic: expected the research topic as a non-empty string")
    return " ".join(topic.split())[:300]


async def plan(deps: ResearchDeps, ctx: TaskContext, _: Done) -> Plan:
    """The topic and its search queries: from the model when one is up, else from rules."""
    topic, n = _topic(ctx), deps.config.max_queries
    queries = None
    if deps.chat is not None and await deps.chat.available():
        queries = await plan_with_model(deps.chat, topic, n)
    return Plan(topic=topic, queries=queries or plan_queries(topic, n), planned_by="model" if queries else "rules")


async def gather(deps: ResearchDeps, ctx: TaskContext, done: Done) -> Gathered:
    """Every query at every source; the hits ranked, at most MAX_GATHERED."""
    p = done.plan
    hits: list[Hit] = []
    errors: list[str] = []
    counts: dict[str, int] = {}
    async with deps.http() as http:
        sources = deps.sources(http)
        if not sources:
            raise PermanentTaskError("no research sources are configured ([intake.research])")
        for src in sources:
            await _search(src, p.queries, deps.config.per_source, hits, errors, counts)
            await ctx.heartbeat()
            errors.extend(getattr(src, "errors", []))
    if not hits and errors and not counts:
        raise SourceError("every source failed: " + "; ".join(dict.fromkeys(errors)))
    return Gathered(hits=rank_hits(p.topic, hits)[:MAX_GATHERED], per_source=counts,
                    errors=list(dict.fromkeys(errors)))


async def _search(src: Source, queries: list[str], per_source: int, hits: list[Hit], errors: list[str],
                  counts: dict[str, int]) -> None:
    for q in queries:
        try:
            found = await src.search(q, per_source)
        except SourceError as e:
            errors.append(str(e))
            return  # a source that fails once is not asked again this run
        hits.extend(found)
        counts[src.name] = counts.get(src.name, 0) + len(found)


async def fetch(deps: ResearchDeps, ctx: TaskContext, done: Done) -> Fetched:
    """The best hits' pages (at most max_fetch, concurrently); further hits up to max_cited keep their own text."""
    cfg = deps.config
    chosen = done.gathered.hits[: max(cfg.max_fetch, cfg.max_cited)]
    sem = asyncio.Semaphore(cfg.concurrency)

    async def one(h: Hit) -> Document:
        async with sem:
            return await fetch_text(http, h, cfg.max_page_bytes)

    async with deps.http() as http:
        docs = await asyncio.gather(*(one(h) for h in chosen[: cfg.max_fetch]))
    docs = [*docs, *(Document(hit=h, text=h.text or h.snippet, fetched=False) for h in chosen[cfg.max_fetch:])]
    return Fetched(documents=docs, fetched=sum(1 for d in docs if d.fetched),
                   failed=[FetchFailure(url=d.hit.url, error=d.error) for d in docs if d.error])


async def rank(deps: ResearchDeps, ctx: TaskContext, done: Done) -> Ranked:
    return Ranked(sources=rank_documents(done.plan.topic, done.fetched.documents, deps.config.max_cited))


async def synthesise(deps: ResearchDeps, ctx: TaskContext, done: Done) -> Synthesis:
    return await write_report(deps.chat, done.plan.topic, done.ranked.sources, datetime.now(ZoneInfo(deps.timezone)))


async def store(deps: ResearchDeps, ctx: TaskContext, done: Done) -> Stored:
    """The report file first, then archival memory and the graph (the file survives a memory outage)."""
    synth = done.synthesis
    path = deps.report_dir / f"{ctx.task.id}.md"
    await asyncio.to_thread(write_atomic, path, synth.markdown)
    if deps.memory is None:
        raise PermanentTaskError("no memory client on this worker; the report is only in " + str(path))
    stack = await deps.memory()  # MemoryUnavailableError: retried with backoff, the file is already there
    stored = await store_in_memory(stack, ctx.task.id, done.plan.topic, synth, done.ranked.sources)
    return Stored(report_path=str(path), node=ctx.node_id, **stored)


def finish(results: dict[str, Any]) -> dict[str, Any]:
    """The task's result: small; the report itself is in the file and in memory."""
    done = Done(results)
    p, g, synth, st = done.plan, done.gathered, done.synthesis, done.stored
    return {
        "topic": p.topic, "summary": synth.summary, "synthesis": synth.status, "reason": synth.reason,
        "queries": p.queries, "planned_by": p.planned_by,
        "gathered": len(g.hits), "per_source": g.per_source, "source_errors": g.errors,
        "fetched": done.fetched.fetched,
        "sources": [{"n": i, "title": s.hit.title, "url": s.hit.url, "source": s.hit.source}
                    for i, s in enumerate(done.ranked.sources, 1)],
        "report_path": st.report_path, "report_node": st.node,
        "memory": {"passages": st.passages, "new_passages": st.new_passages, "entities": st.entities},
    }


ResearchStep = Callable[[ResearchDeps, TaskContext, Done], Awaitable[BaseModel]]
STEPS: tuple[tuple[str, ResearchStep], ...] = (
    ("plan", plan), ("gather", gather), ("fetch", fetch), ("rank", rank), ("synthesise", synthesise),
    ("store", store),
)
"""In order; the names are the checkpoint keys (renaming one restarts tasks in flight from that step)."""


def _step(deps: ResearchDeps, fn: ResearchStep) -> StepFn:
    async def run(ctx: TaskContext, results: dict[str, Any]) -> dict[str, Any]:
        out = await fn(deps, ctx, Done(results))
        return out.model_dump(mode="json")

    return run


def build(deps: ResearchDeps) -> Pipeline:
    return Pipeline([Step(name, _step(deps, fn)) for name, fn in STEPS], finish=finish)


def register(registry: TaskRegistry, deps: ResearchDeps, kind: str = KIND) -> None:
    registry.register(kind, build(deps), "Research a topic: sources -> ranked, cited report in memory")
