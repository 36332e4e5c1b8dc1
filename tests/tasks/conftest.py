"""Fixtures: real task workers (in this process) on the real nats-server of the ``bus`` fixture."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from hydra_os.bus.client import Bus
from hydra_os.config import OwnerConfig
from hydra_os.sections.tasks import TasksConfig
from hydra_os.tasks.model import Task
from hydra_os.tasks.queue import TaskQueue
from hydra_os.tasks.registry import TaskRegistry
from hydra_os.tasks.resources import ResourceView
from hydra_os.tasks.windows import Windows
from hydra_os.tasks.worker import TaskWorker

FAST = {"ack_wait_s": 1.5, "backoff_base_s": 0.1, "backoff_max_s": 0.4, "release_interval_s": 0.2,
        "poll_s": 0.3, "resource_recheck_s": 0.3, "unknown_kind_recheck_s": 60, "enqueue_grace_s": 0.5}

MakeWorker = Callable[..., Awaitable[TaskWorker]]


@pytest.fixture
async def make_worker(bus: Bus) -> AsyncIterator[MakeWorker]:
    workers: list[TaskWorker] = []

    async def make(registry: TaskRegistry, *, node: str = "w1", owner: OwnerConfig | None = None,
                   resources: ResourceView | None = None, start: bool = True, **cfg: Any) -> TaskWorker:
        config = TasksConfig(**{**FAST, **cfg})
        w = TaskWorker(bus, config, Windows(owner or OwnerConfig()), registry, node, resources=resources)
        workers.append(w)
        if start:
            await w.start()
        return w

    yield make
    for w in workers:
        await w.stop()


def queue_for(bus: Bus, owner: OwnerConfig | None = None, **cfg: Any) -> TaskQueue:
    return TaskQueue(bus, TasksConfig(**{**FAST, **cfg}), Windows(owner or OwnerConfig()), actor="test")


async def wait_task(q: TaskQueue, task_id: str, pred: Callable[[Task], bool], timeout: float = 10.0) -> Task:
    deadline = time.monotonic() + timeout
    task = await q.get(task_id)
    while time.monotonic() < deadline:
        task = await q.get(task_id)
        if pred(task):
            return task
        await asyncio.sleep(0.02)
    raise AssertionError(f"task {task_id} never reached the expected state; last: {task.state} {task.history}")


def done(t: Task) -> bool:
    return t.terminal
