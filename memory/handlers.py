"""The server side of the memory verbs that do more than call one store method (:mod:`memory.verbs`
names the rest inline): the handshake and the report, reindex with progress, writes that feed the
background optimiser, and exports that shrink a page until it fits on the bus.

Each takes the serving node's state as :class:`Serving` (the :class:`~memory.service.MemoryService`)
and the verb's params model, and reads ``serving.stack`` per call: a store reopened after it was
down is swapped into that stack in place, so the next call uses it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, TypeVar

from hydra_os.bus.client import Bus
from memory import errors as merr
from memory import verb_models as vm
from memory.archival.maintenance import BackgroundOptimizer
from memory.protocols import AddResult, Embedder, MemoryStack, Page
from memory.store_down import StoreName, store_states

T = TypeVar("T")
R = TypeVar("R")


class Serving(Protocol):
    """What a verb's server-side call may use: the memory node's stores and their helpers."""

    bus: Bus
    stack: MemoryStack
    node_id: str
    embedder: Embedder | None  # the configured embedder, for reindex
    optimizer: BackgroundOptimizer | None
    down: Mapping[StoreName, str]  # the stores that are StoreDown stand-ins, and why


def payload_budget(bus: Bus) -> int:
    """How many bytes of JSON one request or reply may carry: well under the bus's max payload."""
    return max(bus.nc.max_payload * 3 // 4, 1024)


async def hello(s: Serving, p: vm.NoParams) -> vm.Hello:
    """The client's handshake: one attribute read, no store scan."""
    return vm.Hello(node=s.node_id, embedding_model=s.stack.archival.embedding_model)


async def info(s: Serving, p: vm.NoParams) -> vm.Info:
    down = dict(s.down)  # a store that is down answers nothing; the others still report
    stack = s.stack

    async def part(name: StoreName, read: Callable[[], Awaitable[T]]) -> T | None:
        return None if name in down else await read()

    async def count_learnings() -> int:
        return len(await stack.learnings.list_learnings())

    async def labels() -> list[str]:
        return [b.label for b in await stack.core.list_blocks()]

    return vm.Info(
        node=s.node_id,
        embedding_model=stack.archival.embedding_model,
        configured_embedder=s.embedder.model if s.embedder else None,
        stores=store_states(down),
        optimisation=s.optimizer.summary() if s.optimizer is not None else None,  # before count() ends a run
        passages=await part(StoreName.ARCHIVAL, stack.archival.count),
        graph=await part(StoreName.GRAPH, stack.graph.counts),
        learnings=await part(StoreName.LEARNINGS, count_learnings),
        blocks=await part(StoreName.CORE, labels),
    )


async def reindex(s: Serving, p: vm.Reindex) -> vm.Reindexed:
    embedder = s.embedder
    if embedder is None:
        raise merr.MemoryBackendError("this memory node has no embedder configured to reindex with")
    if p.model and p.model != embedder.model:
        raise merr.MemoryInputError(
            f"model: the memory node's configured embedder is {embedder.model!r}, not {p.model!r}; "
            "change memory.embed on the memory node, restart it, then reindex"
        )
    subject, nc = p.progress, s.bus.nc
    pending: set[asyncio.Task[None]] = set()

    def progress(done: int, total: int) -> None:
        if subject:
            task = asyncio.get_running_loop().create_task(
                nc.publish(subject, json.dumps({"done": done, "total": total}).encode())
            )
            pending.add(task)
            task.add_done_callback(pending.discard)

    done = await s.stack.archival.reindex(embedder, progress)
    if s.optimizer is not None:
        s.optimizer.kick()
    return vm.Reindexed(reindexed=done, model=embedder.model)


async def add_passages(s: Serving, p: vm.AddPassages) -> list[AddResult]:
    results = await s.stack.archival.add(p.passages)
    if s.optimizer is not None:
        s.optimizer.note_writes(sum(r.status != "duplicate" for r in results))
    return results


async def import_passages(s: Serving, p: vm.ImportPassages) -> None:
    await s.stack.archival.import_passages(p.passages)
    if s.optimizer is not None:
        s.optimizer.kick()


async def optimize(s: Serving, p: vm.NoParams) -> vm.Optimized:
    """With an optimiser the daemon owns index optimisation (this only schedules it); without one (tests,
    a bare service) it runs in the request."""
    if s.optimizer is None:
        await s.stack.archival.optimize()
        return vm.Optimized(scheduled=False)
    s.optimizer.kick()
    return vm.Optimized(scheduled=True)


async def export_fitting(
    s: Serving, fetch: Callable[[str | None, int], Awaitable[Page[R]]], p: vm.ExportPage
) -> Page[R]:
    """One export page, halved until its reply fits on the bus."""
    budget, limit = payload_budget(s.bus), p.limit
    while True:
        page = await fetch(p.cursor, limit)
        if limit == 1 or len(json.dumps(page.model_dump(mode="json"))) <= budget:  # as the reply is written
            return page
        limit = max(limit // 2, 1)
