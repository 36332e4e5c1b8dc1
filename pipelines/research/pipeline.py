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

from hydra_os.config import read_secret_file
from hydra_os.intake.llm import ChatModel
from hydra_os.tasks.errors import PermanentTaskError
from hydra_os.tasks.registry import TaskContext, TaskRegistry
from memory.protocols import MemoryStack
from pipelines.research.config import ResearchConfig
from pipelines.research.errors import SourceError
from pipelines.research.extract import fetch_text
from pipelines.research.model import Document, Hit
from pipelines.research.plan import plan_queries, plan_with_model
from pipelines.research.rank import rank_documents, rank_hits
from pipelines.research.sources.arxiv import ArxivSource
from pipelines.research.sources.base import Source
from pipelines.research.sources.feeds import FeedSource
from pipelines.research.sources.github import GithubReleasesSource
from pipelines.research.sources.local import LocalFolderSource
from pipelines.research.sources.searxng import SearxngSource
from pipelines.research.store import store_in_memory, write_atomic
from pipelines.runner import Pipeline, Step

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
            token = read_secret_file(c.github_token_file, "GitHub token") if c.github_token_file else None
            out.append(GithubReleasesSource(http, c.github_api_url, c.github_repos, token))
        if c.local_dirs:
            out.append(LocalFolderSource(c.local_dirs))
        return out


def _topic(ctx: TaskContext) -> str:
    topic = ctx.params.get("topic")
    if not isinstance(topic, str) or not topic.strip():
        raise PermanentTaskError("params.topic: expected the research topic as a non-empty string")
    return " ".join(topic.split())[:300]


def build(deps: ResearchDeps) -> Pipeline:
    cfg = deps.config

    async def plan(ctx: TaskContext, _: dict[str, Any]) -> dict[str, Any]:
        topic = _topic(ctx)
        queries, by = None, "rules"
        if deps.chat is not None and await deps.chat.available():
            queries = await plan_with_model(deps.chat, topic, cfg.max_queries)
            by = "model" if queries else "rules"
        return {"topic": topic, "queries": queries or plan_queries(topic, cfg.max_queries), "planned_by": by}

    async def gather(ctx: TaskContext, r: dict[str, Any]) -> dict[str, Any]:
        topic, queries = r["plan"]["topic"], r["plan"]["queries"]
        hits: list[Hit] = []
        errors: list[str] = []
        counts: dict[str, int] = {}
        async with deps.http() as http:
            sources = deps.sources(http)
            if not sources:
                raise PermanentTaskError("no research sources are configured ([intake.research])")
            for src in sources:
                for q in queries:
                    try:
                        found = await src.search(q, cfg.per_source)
                    except SourceError as e:
                        errors.append(str(e))
                        break  # a source that fails once is not asked again this run
                    hits.extend(found)
                    counts[src.name] = counts.get(src.name, 0) + len(found)
                await ctx.heartbeat()
                errors.extend(getattr(src, "errors", []))
        if not hits and errors and len(set(errors)) >= 1 and not counts:
            raise SourceError("every source failed: " + "; ".join(dict.fromkeys(errors)))
        ranked = rank_hits(topic, hits)[:MAX_GATHERED]
        return {"hits": [h.model_dump() for h in ranked], "per_source": counts,
                "errors": list(dict.fromkeys(errors))}

    async def fetch(ctx: TaskContext, r: dict[str, Any]) -> dict[str, Any]:
        hits = [Hit.model_validate(h) for h in r["gather"]["hits"]]
        chosen = hits[: max(cfg.max_fetch, cfg.max_cited)]
        sem = asyncio.Semaphore(cfg.concurrency)

        async def one(h: Hit) -> Document:
            async with sem:
                return await fetch_text(http, h, cfg.max_page_bytes)

        async with deps.http() as http:
            docs = await asyncio.gather(*(one(h) for h in chosen[: cfg.max_fetch]))
        docs = [*docs, *(Document(hit=h, text=h.text or h.snippet, fetched=False) for h in chosen[cfg.max_fetch:])]
        return {"documents": [d.model_dump() for d in docs],
                "fetched": sum(1 for d in docs if d.fetched),
                "failed": [{"url": d.hit.url, "error": d.error} for d in docs if d.error]}

    async def rank(ctx: TaskContext, r: dict[str, Any]) -> dict[str, Any]:
        docs = [Document.model_validate(d) for d in r["fetch"]["documents"]]
        best = rank_documents(r["plan"]["topic"], docs, cfg.max_cited)
        return {"sources": [d.model_dump() for d in best]}

    async def synthesise(ctx: TaskContext, r: dict[str, Any]) -> dict[str, Any]:
        from pipelines.research.synth import synthesise as write

        docs = [Document.model_validate(d) for d in r["rank"]["sources"]]
        return await write(deps.chat, r["plan"]["topic"], docs, datetime.now(ZoneInfo(deps.timezone)))

    async def store(ctx: TaskContext, r: dict[str, Any]) -> dict[str, Any]:
        synth = r["synthesise"]
        path = deps.report_dir / f"{ctx.task.id}.md"
        await asyncio.to_thread(write_atomic, path, synth["markdown"])
        if deps.memory is None:
            raise PermanentTaskError("no memory client on this worker; the report is only in " + str(path))
        stack = await deps.memory()  # MemoryUnavailableError: retried with backoff, the file is already there
        stored = await store_in_memory(stack, ctx.task.id, r["plan"]["topic"], synth, r["rank"]["sources"])
        return {"report_path": str(path), "node": ctx.node_id, **stored}

    def finish(r: dict[str, Any]) -> dict[str, Any]:
        synth = r["synthesise"]
        return {
            "topic": r["plan"]["topic"], "summary": synth["summary"], "synthesis": synth["status"],
            "reason": synth.get("reason"), "queries": r["plan"]["queries"], "planned_by": r["plan"]["planned_by"],
            "gathered": len(r["gather"]["hits"]), "per_source": r["gather"]["per_source"],
            "source_errors": r["gather"]["errors"], "fetched": r["fetch"]["fetched"],
            "sources": [{"n": i, "title": s["hit"]["title"], "url": s["hit"]["url"], "source": s["hit"]["source"]}
                        for i, s in enumerate(r["rank"]["sources"], 1)],
            "report_path": r["store"]["report_path"], "report_node": r["store"]["node"],
            "memory": {k: r["store"][k] for k in ("passages", "new_passages", "entities")},
        }

    return Pipeline([Step("plan", plan), Step("gather", gather), Step("fetch", fetch), Step("rank", rank),
                     Step("synthesise", synthesise), Step("store", store)], finish=finish)


def register(registry: TaskRegistry, deps: ResearchDeps, kind: str = KIND) -> None:
    registry.register(kind, build(deps), "Research a topic: sources -> ranked, cited report in memory")
