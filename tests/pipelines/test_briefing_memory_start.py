"""A fresh node's first briefing runs at start (the catch-up of the morning job), while its memory node is
still opening its stores in the background: the briefing waits for memory a bounded time instead of writing
"Memory: Not readable: no memory service answers ... is a node with the 'memory' role running?" on a node
that has the role. A real bus, a real memory service started two seconds late."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hydra_os.bus.client import Bus
from hydra_os.config import Settings
from memory.protocols import MemoryStack, PassageIn
from memory.service import MemoryService
from memory.wiring import client_stack, open_local
from pipelines.briefing.pipeline import BriefingDeps, collect
from tests.pipelines.conftest import memory_config


async def test_the_briefing_waits_for_a_memory_node_that_is_starting(bus: Bus, tmp_path: Path) -> None:
    s = Settings(node={"id": "n1", "state_dir": tmp_path / "state"}, owner={"timezone": "UTC"})
    local = await open_local(memory_config(), tmp_path / "memnode")
    await local.stack.archival.add([PassageIn(text="The NAS is called tank.")])

    async def memory() -> MemoryStack:
        return await client_stack(bus, memory_config())

    async def memory_node_starts_late() -> None:
        await asyncio.sleep(2)
        async with MemoryService(bus, local.stack, "memnode", local.embedder):
            await asyncio.sleep(30)

    late = asyncio.create_task(memory_node_starts_late())
    try:
        b, counts = await collect(BriefingDeps(settings=s, bus=bus, memory=memory), since=None)
    finally:
        late.cancel()
        await asyncio.gather(late, return_exceptions=True)
        await local.close()
    assert not [p for p in b.problems if p.startswith("memory:")], b.problems
    assert b.memory.error is None and b.memory.passages == 1 and counts["passages"] == 1
