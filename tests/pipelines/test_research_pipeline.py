"""The research.topic task kind end to end: real workers, real NATS, stand-in sources and model on real
HTTP, a real memory service with real stores; a worker process killed mid-run and resumed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from hydra_os.bus.client import Bus
from hydra_os.chat.client import OpenAIChat
from hydra_os.tasks.checkpoints import CheckpointStore
from hydra_os.tasks.model import TaskSpec
from hydra_os.tasks.registry import TaskRegistry
from memory.protocols import SearchFilters
from memory.wiring import LocalMemory
from pipelines.research.pipeline import KIND, register
from tests.helpers import REPO
from tests.pipelines.conftest import deps_for, research_config
from tests.standins.sources.chat_model import ChatStandin
from tests.standins.sources.server import SourceServer
from tests.tasks.conftest import MakeWorker, done, queue_for, wait_task

TOPIC = "the latest ExLlamaV3 developments"


async def test_without_a_model_sources_are_gathered_ranked_and_stored(
        bus: Bus, make_worker: MakeWorker, sources: SourceServer, memory_node: LocalMemory, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "exl3.md").write_text("# EXL3 notes\n\nExLlamaV3 EXL3 at 4 bpw on two 3090s.\n")
    registry = TaskRegistry()
    register(registry, deps_for(bus, research_config(sources, tmp_path, docs), tmp_path, None))
    await make_worker(registry)
    q = queue_for(bus)
    task = (await q.enqueue(TaskSpec(kind=KIND, params={"topic": TOPIC}))).task
    t = await wait_task(q, task.id, done, 30)
    assert t.state == "succeeded", t.error
    r = t.result
    assert r["synthesis"] == "pending-model" and "pending a model" in r["summary"]
    assert set(r["per_source"]) == {"searxng", "arxiv", "feed", "github", "local"}
    urls = [s["url"] for s in r["sources"]]
    assert len(urls) == len({u.split("?")[0].split("#")[0].rstrip("/") for u in urls})  # deduplicated
    assert "cook" not in r["sources"][0]["url"] and r["fetched"] >= 2
    report = await asyncio.to_thread(Path(r["report_path"]).read_text)
    assert "synthesis is pending a model" in report and "## Sources" in report and "31 tokens per second" in report
    stack = memory_node.stack
    hits = await stack.archival.search("ExLlamaV3 tokens per second", limit=20,
                                       filters=SearchFilters(source=f"pipeline:research:{task.id}"))
    assert hits and r["memory"]["passages"] >= len(r["sources"]) + 1
    topic = await stack.graph.resolve(TOPIC)
    assert topic is not None and topic.type == "topic"
    cps = await CheckpointStore(q.store, task.id).all()
    assert set(cps) == {"plan", "gather", "fetch", "rank", "synthesise", "store"}


async def test_with_a_model_the_report_cites_sources_and_entities_land_in_the_graph(
        bus: Bus, make_worker: MakeWorker, sources: SourceServer, memory_node: LocalMemory, chat: OpenAIChat,
        chat_server: ChatStandin, tmp_path: Path) -> None:
    registry = TaskRegistry()
    register(registry, deps_for(bus, research_config(sources, tmp_path), tmp_path, chat))
    await make_worker(registry)
    q = queue_for(bus)
    task = (await q.enqueue(TaskSpec(kind=KIND, params={"topic": TOPIC}))).task
    t = await wait_task(q, task.id, done, 30)
    assert t.state == "succeeded", t.error
    r = t.result
    assert r["synthesis"] == "done" and r["planned_by"] == "model"
    assert r["queries"] == [TOPIC, f"{TOPIC} release notes"]
    report = await asyncio.to_thread(Path(r["report_path"]).read_text)
    assert "[1]" in report and "[2]" in report and "[99]" not in report  # a citation naming no source is removed
    assert "## Sources\n\n1. [" in report
    schemas = [b["response_format"]["json_schema"]["name"] for b in chat_server.log if b.get("response_format")]
    assert schemas == ["research_plan", "research_report"]
    ent = await memory_node.stack.graph.resolve("ExLlamaV3")
    assert ent is not None
    facts = await memory_node.stack.graph.facts_about("ExLlamaV3")
    assert any(f.type == "mentioned_in_research" and f.object == TOPIC for f in facts)


async def test_every_source_down_retries_then_fails_with_the_error_kept(
        bus: Bus, make_worker: MakeWorker, sources: SourceServer, tmp_path: Path) -> None:
    sources.fail.extend(["/searxng/", "/arxiv/", "/feeds/", "/github/"])
    registry = TaskRegistry()
    register(registry, deps_for(bus, research_config(sources, tmp_path), tmp_path, None))
    await make_worker(registry, max_failures=2)
    q = queue_for(bus)
    task = (await q.enqueue(TaskSpec(kind=KIND, params={"topic": TOPIC}))).task
    t = await wait_task(q, task.id, done, 30)
    assert t.state == "failed" and t.failures == 2 and "every source failed" in (t.error or "")
    bad = (await q.enqueue(TaskSpec(kind=KIND, params={}))).task
    t = await wait_task(q, bad.id, done, 30)
    assert t.state == "failed" and "params.topic" in (t.error or "") and t.failures == 1  # permanent: no retry


@pytest.mark.e2e
async def test_worker_killed_mid_fetch_resumes_after_its_last_finished_step(
        bus: Bus, nats_server: object, make_worker: MakeWorker, sources: SourceServer, memory_node: LocalMemory,
        tmp_path: Path) -> None:
    sources.delay["/pages/"] = 30.0  # the fetch step hangs on pages
    url = nats_server.url  # type: ignore[attr-defined]
    args = [sys.executable, "-m", "tests.pipelines.research_worker", url, sources.base, str(tmp_path), "doomed"]
    proc = subprocess.Popen(args, cwd=str(REPO), stdout=subprocess.PIPE)  # noqa: ASYNC220 (a process to kill -9)
    try:
        assert proc.stdout is not None and (await asyncio.to_thread(proc.stdout.readline)).strip() == b"READY"
        q = queue_for(bus)
        task = (await q.enqueue(TaskSpec(kind=KIND, params={"topic": TOPIC}))).task
        cps = CheckpointStore(q.store, task.id)
        for _ in range(300):
            if "gather" in await cps.all() and any(p.startswith("/pages/") for p in sources.log):
                break
            await asyncio.sleep(0.05)
        assert set(await cps.all()) == {"plan", "gather"}
        proc.kill()
        proc.wait(10)
        searches_before = sum(1 for p in sources.log if p.startswith("/searxng/"))
        sources.delay.clear()
        registry = TaskRegistry()
        register(registry, deps_for(bus, research_config(sources, tmp_path), tmp_path, None))
        await make_worker(registry, node="survivor")
        t = await wait_task(q, task.id, done, 40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert t.state == "succeeded", t.error
    assert t.attempts == 2 and t.result["report_node"] == "survivor"
    final = await cps.all()
    assert (final["plan"].node, final["gather"].node) == ("doomed", "doomed")
    assert {final[s].node for s in ("fetch", "rank", "synthesise", "store")} == {"survivor"}
    assert sum(1 for p in sources.log if p.startswith("/searxng/")) == searches_before  # gather did not run again
    assert any("resumed: skipped finished steps plan, gather" in (h.detail or "") for h in t.history)
