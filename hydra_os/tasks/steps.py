"""A small resumable step runner: named steps whose results are checkpointed in ``hydra_tasks``.

A :class:`Pipeline` is a task handler made of ordered :class:`Step` s. Each step gets the task's
context and the results of the steps before it, and returns a JSON-able result that is stored
(``step.<task>.<step>``) before the next step starts. When a worker dies mid-task, the task is
redelivered; the pipeline runs again, finds the stored results and skips straight to the first step
that had not finished. A step therefore runs to completion at most once per task *unless* its worker
dies while it runs — so a step's side effects should be idempotent (or keyed by task id and step).

Fresh results are passed on as their JSON round trip, so a step sees the same shapes whether the step
before it ran just now or was restored from a checkpoint.

Example::

    research = Pipeline([
        Step("plan", plan_queries),
        Step("gather", gather_sources),
        Step("synthesise", write_report),
    ])
    registry.register("research.topic", research, "Research a topic overnight")
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hydra_os.tasks.checkpoints import check_step_name
from hydra_os.tasks.errors import CheckpointError
from hydra_os.tasks.registry import TaskContext

T = TypeVar("T")
StepFn = Callable[[TaskContext, dict[str, Any]], Awaitable[Any]]


def _roundtrip(value: Any, step: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"step {step!r} returned something that is not JSON ({e})") from None


class StepRunner:
    """Runs named steps of one task execution, skipping those already checkpointed."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.ran: list[str] = []
        self.resumed: list[str] = []

    async def run(self, name: str, fn: Callable[[], Awaitable[T]]) -> Any:
        check_step_name(name)
        done = await self.ctx.checkpoints.get(name)
        if done is not None:
            self.resumed.append(name)
            return done.result
        result = _roundtrip(await fn(), name)
        await self.ctx.checkpoints.put(name, result)
        self.ran.append(name)
        await self.ctx.heartbeat()
        return result


@dataclass(frozen=True)
class Step:
    name: str
    fn: StepFn

    def __post_init__(self) -> None:
        check_step_name(self.name)


@dataclass
class Pipeline:
    """A task handler made of checkpointed steps. Returns ``finish(results)``, else the last step's result."""

    steps: list[Step]
    finish: Callable[[dict[str, Any]], Any] | None = None
    notes: bool = True
    """Write 'step X done' / 'resumed after X' lines into the task's history."""
    _names: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if not names:
            raise ValueError("a pipeline needs at least one step")
        if len(set(names)) != len(names):
            raise ValueError(f"step names repeat: {names}")
        self._names = tuple(names)

    @property
    def step_names(self) -> tuple[str, ...]:
        return self._names

    async def __call__(self, ctx: TaskContext) -> Any:
        runner = StepRunner(ctx)
        results: dict[str, Any] = {}
        for step in self.steps:
            before = len(runner.resumed)
            results[step.name] = await runner.run(step.name, lambda s=step: s.fn(ctx, dict(results)))  # type: ignore[misc]
            if self.notes and len(runner.resumed) == before:
                await ctx.note(f"step {step.name} done")
        if self.notes and runner.resumed:
            await ctx.note(f"resumed: skipped finished steps {', '.join(runner.resumed)}")
        if self.finish is not None:
            return self.finish(results)
        return results[self.steps[-1].name]
