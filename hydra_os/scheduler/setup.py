"""Builds the scheduler part of one node (called once from :mod:`hydra_os.wiring`).

Every node serves the ``/v1/schedule`` writes and reads the leader's view over node RPC; role
``scheduler`` adds the :class:`SchedulerService` and the ``schedule-list`` verb that answers that read.
The scheduler sits above the task queue (it enqueues tasks); the task system never imports it, it is
handed :func:`read_schedule` for ``GET /v1/schedule``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter

from hydra_os.bus.client import Bus
from hydra_os.component import Component, NodeContext
from hydra_os.errors import RpcError
from hydra_os.lifecycle import Registers, RpcHandler
from hydra_os.node import rpc
from hydra_os.scheduler.api import schedule_router
from hydra_os.scheduler.leader import current_leader
from hydra_os.scheduler.service import SchedulerService
from hydra_os.scheduler.store import ScheduleStore
from hydra_os.tasks.queue import TaskQueue

SCHEDULE_VERB = "schedule-list"


async def read_schedule(bus: Bus) -> dict[str, Any]:
    """The leader's view of the recurring jobs, asked over node RPC."""
    holder = await current_leader(bus)
    if not holder or not holder.get("node"):
        raise RpcError("no scheduler leader right now; is a node with the 'scheduler' role running?")
    return await rpc.call(bus, str(holder["node"]), SCHEDULE_VERB)


@dataclass
class SchedulerPart(Registers):
    """The schedule routes on every node, the service and its verb on a scheduler node."""

    service: SchedulerService | None = None
    routers: list[APIRouter] = field(default_factory=list)
    verbs: dict[str, RpcHandler] = field(default_factory=dict)

    @property
    def components(self) -> list[Component]:
        return [self.service] if self.service is not None else []

    def routes(self) -> Sequence[APIRouter]:
        return self.routers

    def rpc_handlers(self) -> Mapping[str, RpcHandler]:
        return self.verbs


def build_scheduler(ctx: NodeContext, queue: TaskQueue) -> SchedulerPart:
    def live_nodes() -> list[str]:
        return list(ctx.membership.peers)

    part = SchedulerPart(routers=[schedule_router(ScheduleStore(ctx.bus), ctx.settings.owner.timezone, ctx.auth)])
    if ctx.has_role("scheduler"):
        sched = SchedulerService(ctx.settings, ctx.settings.tasks, queue, events=ctx.events, live_nodes=live_nodes)
        part.service = sched

        async def schedule_list(_: dict[str, Any]) -> dict[str, Any]:
            return sched.describe()

        part.verbs[SCHEDULE_VERB] = schedule_list
    return part
