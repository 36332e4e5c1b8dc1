"""``memory.maintenance``: the scheduler's nightly memory upkeep as a task (see :mod:`memory.maintenance`).

Runs on any worker against the memory node over the bus (the same client every node uses), in the
overnight window. Params (all optional): ``history_keep`` (core-block edits kept per block, default 200),
``max_passages`` (the consolidation scan's bound, default 200000).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from hydra_os.tasks.errors import PermanentTaskError
from hydra_os.tasks.registry import TaskContext, TaskRegistry
from memory.config import MemoryConfig
from memory.maintenance import run_maintenance
from memory.protocols import MemoryStack

KIND = "memory.maintenance"


def _int(ctx: TaskContext, name: str, default: int, lo: int) -> int:
    v = ctx.params.get(name, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise PermanentTaskError(f"params.{name}: got {v!r}, expected a whole number >= {lo}")
    return v


def register(registry: TaskRegistry, memory: Callable[[], Awaitable[MemoryStack]], config: MemoryConfig,
             kind: str = KIND) -> None:
    async def handler(ctx: TaskContext) -> dict[str, Any]:
        keep = _int(ctx, "history_keep", 200, 1)
        max_passages = _int(ctx, "max_passages", 200_000, 1)
        stack = await memory()
        try:
            report = await run_maintenance(
                stack, cosine=config.archival.near_duplicate_cosine,
                jaccard_min=config.archival.near_duplicate_jaccard,
                single_valued=list(config.graph.single_valued), history_keep=keep, max_passages=max_passages)
        finally:
            await stack.close()
        return {"summary": report.summary(), **report.model_dump()}

    registry.register(kind, handler, "Memory upkeep: optimise, link near-duplicates, expire old history, check "
                      "the graph")
