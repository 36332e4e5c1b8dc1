"""The queue and worker against a real nats-server: run, idempotency, retries, priority, cancel, recovery."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.tasks.errors import PermanentTaskError, TaskNotFoundError, TaskStateError
from hydra_os.tasks.model import Task, TaskSpec
from hydra_os.tasks.registry import TaskContext, TaskRegistry
from hydra_os.tasks.store import TaskStore
from tests.tasks.conftest import MakeWorker, done, queue_for, wait_task


def registry(**handlers: Any) -> TaskRegistry:
    r = TaskRegistry()
    for kind, h in handlers.items():
        r.register(kind.replace("_", "."), h)
    return r


async def test_task_runs_and_result_is_stored_before_ack(bus: Bus, make_worker: MakeWorker) -> None:
    async def echo(ctx: TaskContext) -> dict[str, Any]:
        return {"got": ctx.params["x"], "node": ctx.node_id}

    w = await make_worker(registry(t_echo=echo))
    res = await w.queue.enqueue(TaskSpec(kind="t.echo", params={"x": 41}))
    assert res.created and res.task.state == "queued"
    task = await wait_task(w.queue, res.task.id, done)
    assert task.state == "succeeded" and task.result == {"got": 41, "node": "w1"}
    assert [h.event for h in task.history] == ["queued", "started", "succeeded"]
    assert task.attempts == 1 and task.failures == 0
    # acked: the work-queue stream holds nothing any more
    for _ in range(50):
        if (await bus.js.stream_info(names.TASKS_STREAM)).state.messages == 0:
            break
        await asyncio.sleep(0.02)
    assert (await bus.js.stream_info(names.TASKS_STREAM)).state.messages == 0


async def test_idempotency_key_refuses_duplicates_beyond_the_dedup_window(bus: Bus, make_worker: MakeWorker) -> None:
    runs: list[str] = []

    async def once(ctx: TaskContext) -> None:
        runs.append(ctx.task.id)

    w = await make_worker(registry(t_once=once))
    first = await w.queue.enqueue(TaskSpec(kind="t.once", idempotency_key="report-2025-01-31"))
    again = await w.queue.enqueue(TaskSpec(kind="t.once", idempotency_key="report-2025-01-31"))
    assert first.created and not again.created and again.task.id == first.task.id
    await wait_task(w.queue, first.task.id, done)
    # shrink JetStream's dedup window and outwait it: only the durable KV record can refuse now
    info = await bus.js.stream_info(names.TASKS_STREAM)
    info.config.duplicate_window = 0.5
    await bus.js.update_stream(info.config)
    await asyncio.sleep(0.8)
    late = await w.queue.enqueue(TaskSpec(kind="t.once", idempotency_key="report-2025-01-31"))
    assert not late.created and late.task.id == first.task.id and late.task.state == "succeeded"
    await asyncio.sleep(0.5)
    assert runs == [first.task.id]


async def test_failures_retry_with_backoff_then_fail_with_error_kept(bus: Bus, make_worker: MakeWorker) -> None:
    async def broken(ctx: TaskContext) -> None:
        raise RuntimeError(f"disk full (attempt {ctx.task.attempts})")

    w = await make_worker(registry(t_broken=broken), max_failures=3)
    res = await w.queue.enqueue(TaskSpec(kind="t.broken"))
    task = await wait_task(w.queue, res.task.id, done)
    assert task.state == "failed"
    assert task.failures == 3 and task.attempts == 3
    assert task.error == "RuntimeError: disk full (attempt 3)"
    events = [h.event for h in task.history]
    assert events == ["queued", "started", "retrying", "started", "retrying", "started", "failed"]
    retry_lines = [h.detail for h in task.history if h.event == "retrying"]
    assert "retry 2 of 3" in (retry_lines[0] or "")


async def test_permanent_error_fails_at_once_and_retry_resumes(bus: Bus, make_worker: MakeWorker) -> None:
    calls: list[int] = []

    async def picky(ctx: TaskContext) -> str:
        calls.append(ctx.task.attempts)
        if len(calls) == 1:
            raise PermanentTaskError("params.url: expected http(s)")
        return "fine"

    w = await make_worker(registry(t_picky=picky))
    res = await w.queue.enqueue(TaskSpec(kind="t.picky"))
    task = await wait_task(w.queue, res.task.id, done)
    assert task.state == "failed" and task.failures == 1 and "params.url" in (task.error or "")
    try:
        await w.queue.retry(res.task.id.upper() + "x")
    except TaskNotFoundError:
        pass
    again = await w.queue.retry(res.task.id)
    assert again.state == "queued" and again.release == 1
    task = await wait_task(w.queue, res.task.id, lambda t: t.state == "succeeded")
    assert task.result == "fine" and task.error is None and calls == [1, 2]
    try:
        await w.queue.retry(res.task.id)
        raise AssertionError("retrying a succeeded task must be refused")
    except TaskStateError as e:
        assert "succeeded" in str(e)


async def test_priority_order(bus: Bus, make_worker: MakeWorker) -> None:
    order: list[str] = []

    async def rec(ctx: TaskContext) -> None:
        order.append(ctx.params["name"])

    q = queue_for(bus)
    for name, prio in [("low", "low"), ("normal", "normal"), ("urgent", "urgent"), ("high", "high"),
                       ("low2", "low")]:
        await q.enqueue(TaskSpec(kind="t.rec", params={"name": name}, priority=prio))
    w = await make_worker(registry(t_rec=rec), concurrency=1)
    for _ in range(200):
        if len(order) == 5:
            break
        await asyncio.sleep(0.02)
    assert order == ["urgent", "high", "normal", "low", "low2"]
    assert w.stats.get("succeeded") == 5


async def test_cancel_queued_and_running(bus: Bus, make_worker: MakeWorker) -> None:
    started = asyncio.Event()
    stopped: list[str] = []

    async def slow(ctx: TaskContext) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stopped.append(ctx.task.id)
            raise

    q = queue_for(bus)
    later = await q.enqueue(TaskSpec(kind="t.slow", not_before=time.time() + 3600))
    assert later.task.state == "pending"
    cancelled = await q.cancel(later.task.id)
    assert cancelled.state == "cancelled"
    try:
        await q.cancel(later.task.id)
        raise AssertionError("cancelling twice must be refused")
    except TaskStateError:
        pass

    w = await make_worker(registry(t_slow=slow), ack_wait_s=0.6)
    res = await w.queue.enqueue(TaskSpec(kind="t.slow"))
    await asyncio.wait_for(started.wait(), 5)
    await q.cancel(res.task.id)
    # the handler sees the cancellation, then the worker records that it stopped the running task
    task = await wait_task(q, res.task.id, lambda t: any(h.event == "stopped" for h in t.history), timeout=10)
    assert stopped == [res.task.id]
    assert task.state == "cancelled"
    assert [h.event for h in task.history][-2:] == ["cancelled", "stopped"]
    await asyncio.sleep(0.3)
    assert (await q.get(res.task.id)).state == "cancelled"


async def test_not_before_waits_in_pending_set_then_runs(bus: Bus, make_worker: MakeWorker) -> None:
    ran: dict[str, float] = {}

    async def stamp(ctx: TaskContext) -> None:
        ran[ctx.task.id] = time.time()

    w = await make_worker(registry(t_stamp=stamp), short_defer_s=0)
    due = time.time() + 1.0
    res = await w.queue.enqueue(TaskSpec(kind="t.stamp", not_before=due))
    assert res.task.state == "pending" and res.task.wait_reason
    assert [p[0] for p in await TaskStore(bus).pending()] == [res.task.id]
    task = await wait_task(w.queue, res.task.id, done, timeout=6)
    assert task.state == "succeeded" and ran[res.task.id] >= due
    assert [h.event for h in task.history] == ["queued", "released", "started", "succeeded"]
    assert await TaskStore(bus).pending() == []


async def test_short_wait_stays_in_stream(bus: Bus, make_worker: MakeWorker) -> None:
    ran: dict[str, float] = {}

    async def stamp(ctx: TaskContext) -> None:
        ran[ctx.task.id] = time.time()

    w = await make_worker(registry(t_stamp=stamp), short_defer_s=30)
    due = time.time() + 0.8
    res = await w.queue.enqueue(TaskSpec(kind="t.stamp", not_before=due))
    assert res.task.state == "queued"  # due soon: published now, naked with delay by the worker
    task = await wait_task(w.queue, res.task.id, done, timeout=6)
    assert task.state == "succeeded" and ran[res.task.id] >= due and w.stats.get("early", 0) >= 1


async def test_half_done_enqueue_is_completed_by_a_worker(bus: Bus, make_worker: MakeWorker) -> None:
    """An enqueuer that died after storing the task but before publishing it loses nothing."""
    store = TaskStore(bus)
    task = Task.from_spec(TaskSpec(kind="t.once", source="test"))
    task.note("queued", "dead-enqueuer")
    assert await store.claim_idempotency(task.idempotency_key, task.id) is None
    await store.set_pending(task.id, time.time() + 0.3)
    await store.create(task)  # ...and the enqueuer died here, before publishing

    async def once(ctx: TaskContext) -> str:
        return "ran"

    w = await make_worker(registry(t_once=once))
    got = await wait_task(w.queue, task.id, done, timeout=6)
    assert got.state == "succeeded" and got.result == "ran"


async def test_unknown_kind_waits_in_pending_with_a_reason(bus: Bus, make_worker: MakeWorker) -> None:
    w = await make_worker(registry())
    res = await w.queue.enqueue(TaskSpec(kind="research.topic", params={"topic": "ExLlamaV3"}))
    task = await wait_task(w.queue, res.task.id, lambda t: t.state == "pending")
    assert task.wait_reason == "no live worker handles kind research.topic"
    assert task.attempts == 0


async def test_missing_task_and_bad_ids(bus: Bus) -> None:
    q = queue_for(bus)
    for bad in ("nope", "../etc", ""):
        try:
            await q.get(bad)
            raise AssertionError("expected TaskNotFoundError")
        except TaskNotFoundError as e:
            assert "no task" in str(e)


async def test_overnight_task_waits_for_the_owner_window(bus: Bus, make_worker: MakeWorker) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from hydra_os.config import OwnerConfig

    tz = ZoneInfo("America/New_York")
    now = datetime.now(tz)
    start, end = now + timedelta(hours=2), now + timedelta(hours=4)
    owner = OwnerConfig(timezone="America/New_York", overnight_start=start.strftime("%H:%M"),
                        overnight_end=end.strftime("%H:%M"))

    async def never(ctx: TaskContext) -> None:
        raise AssertionError("the window is closed")

    w = await make_worker(registry(t_night=never), owner=owner)
    res = await w.queue.enqueue(TaskSpec(kind="t.night", window="overnight"))
    assert res.task.state == "pending"
    assert (res.task.wait_reason or "").startswith("window overnight opens")
    assert start.strftime("%H:%M") in (res.task.wait_reason or "")
    pend = dict(await TaskStore(bus).pending())
    assert abs(pend[res.task.id] - start.replace(second=0, microsecond=0).timestamp()) < 1
    await asyncio.sleep(0.5)  # the release loop leaves it alone
    assert (await w.queue.get(res.task.id)).state == "pending"
