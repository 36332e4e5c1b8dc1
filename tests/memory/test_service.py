"""The memory bus service and its client, over a real nats-server, with real stores behind it."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from hydra_os.bus.client import Bus
from hydra_os.bus.names import memory_rpc
from memory.context import ContextBuilder
from memory.errors import (
    BlockEditError,
    BlockLimitError,
    MemoryInputError,
    MemoryNotFoundError,
    MemoryUnavailableError,
)
from memory.extract import MemoryWriter
from memory.protocols import (
    ArchivalStore,
    Block,
    CoreMemory,
    Entity,
    GraphStore,
    LearningIn,
    Learnings,
    MemoryStack,
    PassageIn,
    SearchFilters,
    iter_pages,
)
from memory.service import MemoryClient, MemoryService
from memory.wiring import LocalMemory


@pytest.fixture
async def remote(bus: Bus, local_mem: LocalMemory) -> AsyncIterator[tuple[MemoryClient, MemoryStack]]:
    async with MemoryService(bus, local_mem.stack, "mem-node", local_mem.embedder):
        client = await MemoryClient(bus).open()
        yield client, client.stack()


async def test_remote_parts_implement_the_protocols(remote: tuple[MemoryClient, MemoryStack]) -> None:
    client, stack = remote
    assert isinstance(stack.core, CoreMemory) and isinstance(stack.archival, ArchivalStore)
    assert isinstance(stack.graph, GraphStore) and isinstance(stack.learnings, Learnings)
    assert stack.archival.embedding_model == "hashing-bow-v1-384"
    info = await client.call("info")
    assert info["node"] == "mem-node" and info["blocks"] == ["persona", "owner", "projects", "preferences"]


async def test_every_store_through_the_bus(remote: tuple[MemoryClient, MemoryStack], local_mem: LocalMemory) -> None:
    _, stack = remote
    await stack.core.append("owner", "Name: Sam")
    assert (await local_mem.stack.core.get_block("owner")).value == "Name: Sam"  # it really went to the owner
    assert [h.op for h in await stack.core.history("owner")] == ["create", "append"]
    await stack.core.create_block(Block(label="scratch", value="a", limit=5))
    assert (await stack.core.rewrite("scratch", "abc")).value == "abc"

    added = await stack.archival.add([
        PassageIn(text="The NAS is at 10.0.0.5", source="ops", tags=["infra"]),
        PassageIn(text="The NAS is at 10.0.0.5", source="ops", tags=["infra"]),
        PassageIn(text="Mira is the heroine of Starfall", source="conversation"),
    ])
    assert [a.status for a in added] == ["added", "duplicate", "added"]
    assert await stack.archival.count() == 2
    hits = await stack.archival.search("where is the NAS", limit=5, filters=SearchFilters(tags=["infra"]))
    assert [h.passage.text for h in hits] == ["The NAS is at 10.0.0.5"]
    assert (await stack.archival.get(added[2].id)).source == "conversation"

    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    await stack.graph.upsert_entity(Entity(name="Sam", type="person", aliases=["owner"]))
    w = MemoryWriter(stack, owner="Sam")
    await w.record_fact("owner", "lives_in", "Lisbon", valid_from=t0)
    await w.record_fact("Sam", "lives_in", "Porto", valid_from=datetime(2025, 5, 1, tzinfo=UTC))
    assert [f.object for f in await stack.graph.facts_about("Sam", at=datetime(2025, 2, 1, tzinfo=UTC))] == ["Lisbon"]
    assert {n.entity.name for n in await stack.graph.neighbours("owner", depth=1)} == {"Porto"}
    assert (await stack.graph.resolve("OWNER")) is not None
    assert (await stack.graph.counts())["relations"] == 2

    first = await stack.learnings.add(LearningIn(context="c", learning="restart vllm after driver updates"))
    assert first.id == "L-0001"
    assert [e.id for e in await stack.learnings.search("vllm driver")] == ["L-0001"]
    assert [e.id async for e in iter_pages(stack.learnings.export_page, 1)] == ["L-0001"]

    ctx = await ContextBuilder(stack).build("where does Sam live?")  # context assembly over the bus
    assert ctx.entities == ["Sam"] and any("lives in Porto" in i.text for i in ctx.items)


async def test_errors_cross_the_bus_as_the_same_class(remote: tuple[MemoryClient, MemoryStack]) -> None:
    client, stack = remote
    with pytest.raises(MemoryNotFoundError, match="no core block 'nope'"):
        await stack.core.get_block("nope")
    with pytest.raises(BlockEditError, match="does not contain the text 'zzz'"):
        await stack.core.replace("owner", "zzz", "y")
    await stack.core.create_block(Block(label="tiny", limit=3))
    with pytest.raises(BlockLimitError, match="trim 2 characters"):
        await stack.core.append("tiny", "abcde")
    with pytest.raises(MemoryInputError, match="label: required parameter is missing"):
        await client.call("core.get", {})
    with pytest.raises(MemoryInputError, match="limit"):
        await client.call("archival.search", {"query": "x", "limit": "many"})
    msg = await client.bus.nc.request(memory_rpc("core.get"), b"not json", timeout=2)
    assert msg.headers and msg.headers["Nats-Service-Error-Code"] == "400"
    assert json.loads(msg.data)["type"] == "MemoryInputError"


async def test_no_memory_node_is_a_clear_error(bus: Bus) -> None:
    with pytest.raises(MemoryUnavailableError, match="is a node with the 'memory' role running"):
        await MemoryClient(bus).open()


async def test_large_writes_and_exports_fit_the_bus(remote: tuple[MemoryClient, MemoryStack]) -> None:
    _, stack = remote
    rng = random.Random(7)
    words = [f"w{n}" for n in range(5000)]
    texts = [" ".join(rng.choices(words, k=9000)) for _ in range(40)]  # ~50 KB each, 2 MB together
    added = await stack.archival.add([PassageIn(text=t) for t in texts])  # split into batches
    assert len(added) == 40 and {a.status for a in added} == {"added"}
    page = await stack.archival.export_page(None, 40)
    assert 0 < len(page.items) < 40 and page.next_cursor is not None
    every = [p async for p in iter_pages(stack.archival.export_page, 40)]
    assert len(every) == 40 and all(p.vector and len(p.vector) == 384 for p in every)
    with pytest.raises(MemoryInputError, match="over what a bus message carries"):
        await stack.archival.add([PassageIn(text="x" * 2_000_000)])


async def test_optimisation_is_the_daemons_job(bus: Bus, local_mem: LocalMemory) -> None:
    """With an optimiser, `archival.optimize` only schedules a run, and an import or enough adds kick one."""
    from memory.archival import BackgroundOptimizer

    async with (
        BackgroundOptimizer(local_mem.stack.archival, interval_s=3600, kick_after=3) as opt,
        MemoryService(bus, local_mem.stack, "mem-node", local_mem.embedder, optimizer=opt),
    ):
        client = await MemoryClient(bus).open()
        stack = client.stack()
        assert await client.call("archival.optimize") == {"scheduled": True}
        await wait_for_async(lambda: opt.runs == 1, "the kicked optimisation")
        await stack.archival.add([PassageIn(text=f"note {i} about the NAS", source="ops") for i in range(2)])
        await asyncio.sleep(0.2)
        assert opt.runs == 1  # 2 passages: under kick_after
        await stack.archival.add([PassageIn(text="note 9 about the NAS", source="ops")])
        await wait_for_async(lambda: opt.runs == 2, "optimisation after 3 added passages")
        page = await local_mem.stack.archival.export_page(None, 10)
        await stack.archival.import_passages([p.model_copy(update={"id": p.id + "-copy"}) for p in page.items[:1]])
        await wait_for_async(lambda: opt.runs == 3, "optimisation after an import")


async def wait_for_async(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
