"""Checkpointed steps resume after a failure; GPU tasks wait for a node with the VRAM."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hydra_os.bus.client import Bus
from hydra_os.events import EventLog
from hydra_os.node.gpu import GpuInfo
from hydra_os.node.info import NodeInfo, host_stats
from hydra_os.node.membership import Membership
from hydra_os.tasks.checkpoints import CheckpointStore
from hydra_os.tasks.model import TaskSpec
from hydra_os.tasks.registry import TaskContext, TaskRegistry
from hydra_os.tasks.resources import MembershipResources
from hydra_os.tasks.steps import Pipeline, Step
from hydra_os.tasks.store import TaskStore
from tests.tasks.conftest import MakeWorker, done, wait_task


async def test_pipeline_resumes_after_its_last_finished_step(bus: Bus, make_worker: MakeWorker) -> None:
    runs: list[str] = []

    async def fetch(ctx: TaskContext, before: dict[str, Any]) -> dict[str, Any]:
        runs.append("fetch")
        return {"pages": (1, 2)}  # a tuple: the next step must see the JSON shape (a list) either way

    async def rank(ctx: TaskContext, before: dict[str, Any]) -> list[int]:
        runs.append("rank")
        assert before["fetch"] == {"pages": [1, 2]}
        if runs.count("rank") == 1:
            raise ConnectionError("search engine went away")
        return sorted(before["fetch"]["pages"], reverse=True)

    async def report(ctx: TaskContext, before: dict[str, Any]) -> str:
        runs.append("report")
        return f"top: {before['rank'][0]}"

    reg = TaskRegistry()
    reg.register("t.research", Pipeline([Step("fetch", fetch), Step("rank", rank), Step("report", report)]))
    assert reg.get("t.research").steps == ("fetch", "rank", "report")
    w = await make_worker(reg)
    res = await w.queue.enqueue(TaskSpec(kind="t.research"))
    task = await wait_task(w.queue, res.task.id, done)
    assert task.state == "succeeded" and task.result == "top: 2"
    assert runs == ["fetch", "rank", "rank", "report"]  # fetch did not run again
    cps = await CheckpointStore(TaskStore(bus), res.task.id).all()
    assert sorted(cps) == ["fetch", "rank", "report"] and cps["rank"].attempt == 2
    notes = [h.detail for h in task.history if h.event == "progress"]
    assert "resumed: skipped finished steps fetch" in notes


async def test_oversized_step_result_fails_the_task_with_a_clear_error(bus: Bus, make_worker: MakeWorker) -> None:
    async def big(ctx: TaskContext, before: dict[str, Any]) -> str:
        return "x" * (600 * 1024)

    reg = TaskRegistry()
    reg.register("t.big", Pipeline([Step("blob", big)]))
    w = await make_worker(reg, max_failures=1)
    res = await w.queue.enqueue(TaskSpec(kind="t.big"))
    task = await wait_task(w.queue, res.task.id, done)
    assert task.state == "failed" and "CheckpointError" in (task.error or "") and "at most" in (task.error or "")


def gpu_info(node: str, free_mb: int) -> NodeInfo:
    now = time.time()
    return NodeInfo(id=node, incarnation="i1", roles=["worker", "gpu"], version="test", api_url=None, pid=1,
                    started_at=now, heartbeat_at=now, uptime_s=0,
                    gpus=[GpuInfo(index=0, name="RTX 4090", uuid="GPU-x", memory_total_mb=24564,
                                  memory_free_mb=free_mb)],
                    **host_stats())  # type: ignore[arg-type]


async def test_gpu_tasks_wait_for_free_vram(bus: Bus, make_worker: MakeWorker) -> None:
    """The worker reads its own node's free VRAM from the membership view (hydra_nodes heartbeats)."""
    events = EventLog(bus, "gpu1")
    await events.start()
    free = {"mb": 8000}

    async def info() -> NodeInfo:
        return gpu_info("gpu1", free["mb"])

    membership = Membership(bus, events, "gpu1", info, heartbeat_interval=0.2, gone_after=1.0)
    await membership.start()
    ran: list[str] = []

    async def render(ctx: TaskContext) -> None:
        ran.append(ctx.params["what"])

    try:
        reg = TaskRegistry()
        reg.register("t.render", render)
        w = await make_worker(reg, node="gpu1", resources=MembershipResources(membership, "gpu1"))
        small = await w.queue.enqueue(TaskSpec(kind="t.render", params={"what": "small"}, gpu_vram_mb=6000))
        huge = await w.queue.enqueue(TaskSpec(kind="t.render", params={"what": "huge"}, gpu_vram_mb=20000))
        await wait_task(w.queue, small.task.id, done)
        waiting = await wait_task(w.queue, huge.task.id, lambda t: bool(t.wait_reason))
        assert waiting.state == "queued" and "20000 MB VRAM" in (waiting.wait_reason or "")
        assert ran == ["small"]
        free["mb"] = 22000  # the model that held the GPU was unloaded; the next heartbeat says so
        task = await wait_task(w.queue, huge.task.id, done, timeout=8)
        assert task.state == "succeeded" and ran == ["small", "huge"]
    finally:
        await membership.stop()


async def test_gpu_task_without_resource_view_never_runs(bus: Bus, make_worker: MakeWorker) -> None:
    reg = TaskRegistry()

    async def render(ctx: TaskContext) -> None:
        raise AssertionError("must not run without VRAM")

    reg.register("t.render", render)
    w = await make_worker(reg)
    res = await w.queue.enqueue(TaskSpec(kind="t.render", gpu_vram_mb=1000))
    task = await wait_task(w.queue, res.task.id, lambda t: bool(t.wait_reason))
    assert task.attempts == 0
    await asyncio.sleep(0.5)
    assert (await w.queue.get(res.task.id)).attempts == 0
