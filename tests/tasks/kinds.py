"""Task kinds for tests, loaded by real daemons through ``tasks.kind_modules``.

Each handler appends a JSON line per run to the file named in ``params.log`` (O_APPEND writes of one
line are atomic enough for one writer per line), so a test can count what ran where.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from hydra_os.tasks.registry import TaskContext, TaskRegistry
from hydra_os.tasks.steps import Pipeline, Step


def record(path: str, **fields: Any) -> None:
    line = json.dumps({"ts": time.time(), "pid": os.getpid(), **fields}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_log(path: str) -> list[dict[str, Any]]:
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def _step(name: str) -> Any:
    async def run(ctx: TaskContext, before: dict[str, Any]) -> dict[str, Any]:
        record(ctx.params["log"], event="start", step=name, task=ctx.task.id, node=ctx.node_id)
        await asyncio.sleep(float(ctx.params.get("seconds", 1.0)))
        record(ctx.params["log"], event="done", step=name, task=ctx.task.id, node=ctx.node_id)
        return {"step": name, "node": ctx.node_id, "saw": sorted(before)}

    return run


async def tick(ctx: TaskContext) -> dict[str, Any]:
    record(ctx.params["log"], event="tick", task=ctx.task.id, key=ctx.task.idempotency_key, node=ctx.node_id)
    return {"ok": True}


async def once(ctx: TaskContext) -> dict[str, Any]:
    record(ctx.params["log"], event="run", task=ctx.task.id, key=ctx.task.idempotency_key, node=ctx.node_id)
    return {"n": ctx.params.get("n")}


async def stamp(ctx: TaskContext) -> dict[str, Any]:
    """Trivial task: reports when it started (for enqueue-to-start and throughput figures)."""
    return {"started": time.time()}


async def _work_step(ctx: TaskContext, before: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(float(ctx.params.get("seconds", 0.1)))
    return {"node": ctx.node_id}


async def _work_finish(ctx: TaskContext, before: dict[str, Any]) -> dict[str, Any]:
    record(ctx.params["log"], event="finish", task=ctx.task.id, node=ctx.node_id, delivery=ctx.delivery)
    return {"node": ctx.node_id}


def register(registry: TaskRegistry) -> None:
    registry.register("test.pipeline", Pipeline([Step("one", _step("one")), Step("two", _step("two")),
                                                 Step("three", _step("three"))]), "three slow steps")
    registry.register("test.tick", tick, "record a scheduler slot")
    registry.register("test.once", once, "record one run")
    registry.register("test.stamp", stamp, "report the start time")
    registry.register("test.work", Pipeline([Step("a", _work_step), Step("b", _work_step),
                                             Step("finish", _work_finish)], notes=False), "two waits and a mark")
