"""Builds the task system of one node from its context (called once from :mod:`hydra_os.wiring`).

Every node gets the queue and its API routes (``/v1/tasks``; ``GET /v1/schedule`` through the reader the
wiring hands in, :func:`hydra_os.scheduler.setup.read_schedule`); role ``worker`` adds the
:class:`TaskWorker`. The scheduler is built by :mod:`hydra_os.scheduler.setup`: it sits above the queue,
so this package never imports it. The :class:`TaskSystem` offers its routes like a component does; the
wiring registers them, and every component's task kinds on ``TaskSystem.registry``, before the node starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter

from hydra_os.component import Component, NodeContext
from hydra_os.lifecycle import RpcHandler
from hydra_os.sections.tasks import TasksConfig
from hydra_os.tasks import diag
from hydra_os.tasks.api import ScheduleReader, tasks_router
from hydra_os.tasks.queue import TaskQueue
from hydra_os.tasks.registry import KindSpec, TaskRegistry
from hydra_os.tasks.resources import MembershipResources
from hydra_os.tasks.windows import Windows
from hydra_os.tasks.worker import TaskWorker


@dataclass
class TaskSystem:
    registry: TaskRegistry
    queue: TaskQueue
    worker: TaskWorker | None = None
    services: dict[str, Any] = field(default_factory=dict)
    """Handed to every handler as ``ctx.services`` (the wiring may add the router, memory client...)."""
    routers: list[APIRouter] = field(default_factory=list)

    @property
    def components(self) -> list[Component]:
        return [self.worker] if self.worker is not None else []

    def routes(self) -> Sequence[APIRouter]:
        return self.routers

    def rpc_handlers(self) -> Mapping[str, RpcHandler]:
        return {}

    def task_kinds(self) -> Sequence[KindSpec]:
        return ()  # diag and tasks.kind_modules are registered on the registry directly, first


def build_tasks(ctx: NodeContext, schedule: ScheduleReader | None = None) -> TaskSystem:
    cfg: TasksConfig = ctx.settings.tasks
    windows = Windows(ctx.settings.owner)
    registry = TaskRegistry()
    diag.register(registry)
    registry.load_modules(cfg.kind_modules)
    queue = TaskQueue(ctx.bus, cfg, windows, actor=ctx.node_id)
    system = TaskSystem(registry, queue)

    def live_nodes() -> list[str]:
        return list(ctx.membership.peers)

    if ctx.has_role("worker"):
        system.worker = TaskWorker(ctx.bus, cfg, windows, registry, ctx.node_id,
                                   resources=MembershipResources(ctx.membership, ctx.node_id),
                                   live_nodes=live_nodes, services=system.services)
    ctx.readiness["tasks"] = queue.store.health.unready  # the API's store
    if system.worker is not None:
        ctx.readiness["tasks-worker"] = system.worker.store.health.unready
    system.routers.append(tasks_router(queue, ctx.auth, schedule))
    return system
