"""Diagnostic task kinds every worker has: check the queue end to end without any model or service.

- ``diag.echo``  returns its parameters (``hydra queue diag.echo text=hi``).
- ``diag.steps`` a checkpointed pipeline of ``steps`` steps (1-20) that each wait ``seconds`` (0-600);
  kill the worker mid-way and the task resumes after its last finished step.
- ``diag.fail``  fails with ``message`` (retried with backoff, then failed) — to see the retry path.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hydra_os.tasks.errors import PermanentTaskError
from hydra_os.tasks.registry import TaskContext, TaskRegistry
from hydra_os.tasks.steps import StepRunner


async def echo(ctx: TaskContext) -> dict[str, Any]:
    return {"echo": ctx.params, "node": ctx.node_id}


def _number(ctx: TaskContext, name: str, default: float, lo: float, hi: float) -> float:
    v = ctx.params.get(name, default)
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise PermanentTaskError(f"params.{name}: got {v!r}, expected a number from {lo} to {hi}") from None
    if not lo <= f <= hi:
        raise PermanentTaskError(f"params.{name}: got {v!r}, expected a number from {lo} to {hi}")
    return f


async def steps(ctx: TaskContext) -> dict[str, Any]:
    n = int(_number(ctx, "steps", 3, 1, 20))
    seconds = _number(ctx, "seconds", 1.0, 0, 600)
    runner = StepRunner(ctx)
    for i in range(1, n + 1):
        async def one(i: int = i) -> dict[str, Any]:
            await asyncio.sleep(seconds)
            return {"step": i, "node": ctx.node_id, "delivery": ctx.delivery}

        await runner.run(f"step{i}", one)
    return {"steps": n, "ran": runner.ran, "resumed": runner.resumed}


async def fail(ctx: TaskContext) -> None:
    raise RuntimeError(str(ctx.params.get("message", "diag.fail was asked to fail")))


def register(registry: TaskRegistry) -> None:
    registry.register("diag.echo", echo, "Return the parameters (queue check)")
    registry.register("diag.steps", steps, "Checkpointed steps that wait (resume check)")
    registry.register("diag.fail", fail, "Always fail (retry/backoff check)")
