"""Builds the task system of one node from its context (called once from :mod:`hydra_os.wiring`).

Every node gets the queue and its API routes (``/v1/tasks``, ``/v1/schedule``); role ``worker`` adds
the :class:`TaskWorker`, role ``scheduler`` the :class:`SchedulerService` and the ``schedule-list`` node
RPC verb. The :class:`TaskSystem` offers its routes and verb like a component does; the wiring registers
them, and every component's task kinds on ``TaskSystem.registry``, before the node starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter

from hydra_os.component import Component, NodeContext
from hydra_os.errors import RpcError
from hydra_os.lifecycle import RpcHandler
from hydra_os.node import rpc
from hydra_os.scheduler.api import schedule_router
from hydra_os.scheduler.leader import current_leader
from hydra_os.scheduler.service import SchedulerService
from hydra_os.scheduler.store import ScheduleStore
from hydra_os.tasks import diag
from hydra_os.tasks.api import tasks_router
from hydra_os.tasks.config import TasksConfig
from hydra_os.tasks.queue import TaskQueue
from hydra_os.tasks.registry import KindSpec, TaskRegistry
from hydra_os.tasks.resources import MembershipResources
from hydra_os.tasks.windows import Windows
from hydra_os.tasks.worker import TaskWorker

SCHEDULE_VERB = "schedule-list"


@dataclass
class TaskSystem:
    registry: TaskRegistry
    queue: TaskQueue
    worker: TaskWorker | None = None
    scheduler: SchedulerService | None = None
    services: dict[str, Any] = field(default_factory=dict)
    """Handed to every handler as ``ctx.services`` (the wiring may add the router, memory client...)."""
    routers: list[APIRouter] = field(default_factory=list)
    verbs: dict[str, RpcHandler] = field(default_factory=dict)

    @property
    def components(self) -> list[Component]:
        return [c for c in (self.worker, self.scheduler) if c is not None]

    def routes(self) -> Sequence[APIRouter]:
        return self.routers

    def rpc_handlers(self) -> Mapping[str, RpcHandler]:
        return self.verbs

    def task_kinds(self) -> Sequence[KindSpec]:
        return ()  # diag and tasks.kind_modules are registered on the registry directly, first


async def read_schedule(ctx: NodeContext) -> dict[str, Any]:
    """The leader's view of the recurring jobs, asked over node RPC."""
    holder = await current_leader(ctx.bus)
    if not holder or not holder.get("node"):
        raise RpcError("no scheduler leader right now; is a node with the 'scheduler' role running?")
    return await rpc.call(ctx.bus, str(holder["node"]), SCHEDULE_VERB)


def build_tasks(ctx: NodeContext) -> TaskSystem:
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
    if ctx.has_role("scheduler"):
        sched = SchedulerService(ctx.settings, cfg, queue, events=ctx.events, live_nodes=live_nodes)
        system.scheduler = sched

        async def schedule_list(_: dict[str, Any]) -> dict[str, Any]:
            return sched.describe()

        system.verbs[SCHEDULE_VERB] = schedule_list

    async def schedule() -> dict[str, Any]:
        return await read_schedule(ctx)

    ctx.readiness["tasks"] = queue.store.health.unready  # the API's store
    if system.worker is not None:
        ctx.readiness["tasks-worker"] = system.worker.store.health.unready
    system.routers += [tasks_router(queue, ctx.auth, schedule),
                       schedule_router(ScheduleStore(ctx.bus), ctx.settings.owner.timezone, ctx.auth)]
    return system
