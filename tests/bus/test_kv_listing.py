"""Listing KV buckets leaves no JetStream consumer behind (issue 10 item 9).

Every listing (tasks, pending marks, checkpoints, approvals, maintenance windows, scheduled jobs,
membership) used to create a KV watcher whose ordered consumer outlived ``stop()`` by nats-py's
300 s inactivity default; after ~1,000 listings the server refused new consumers. The count is read
from the streams' own info on a real nats-server.
"""

from __future__ import annotations

import asyncio

import pytest

from hydra_os.bus import names
from hydra_os.bus.client import Bus, kv_values
from hydra_os.bus.kvscan import kv_scan
from hydra_os.policy.approvals import ApprovalStore
from hydra_os.policy.guards.maintenance_store import MaintenanceStore, policy_bucket
from hydra_os.policy.model import Action, Decision, Level
from hydra_os.scheduler.store import ScheduleStore
from hydra_os.tasks.checkpoints import CheckpointStore
from hydra_os.tasks.model import Task
from hydra_os.tasks.store import TaskStore

LISTINGS = 5000


async def consumers(bus: Bus, bucket: str) -> int:
    info = await bus.js.stream_info(f"KV_{bucket}")
    return int(info.state.consumer_count)


async def test_5000_listings_leave_the_consumer_count_bounded(bus: Bus) -> None:
    store = TaskStore(bus)
    for i in range(3):
        await store.create(Task(id=f"t{i}", kind="diag.echo", params={"i": i}, idempotency_key=f"k{i}"))
    tasks = await store.all_tasks()
    cp = CheckpointStore(store, tasks[0].id)
    await cp.put("one", {"ok": True})
    approvals = await ApprovalStore.open(bus)
    await approvals.create(Action(kind="data.delete", target="t"),
                           Decision(level=Level.ASK_FIRST, rule_id="r", reason="why"), "n1", 60)
    maintenance = MaintenanceStore(await policy_bucket(bus))
    schedule = ScheduleStore(bus)
    nodes_kv = await bus.kv(names.NODES_BUCKET)
    await nodes_kv.put("n1", b'{"id": "n1"}')

    async def one_round(i: int) -> None:
        match i % 6:
            case 0:
                assert len(await store.all_tasks()) == 3
            case 1:
                assert list(await cp.all()) == ["one"]
            case 2:
                assert len(await approvals.list()) == 1
            case 3:
                assert await maintenance.windows() == []
            case 4:
                assert await schedule.all() == {}
            case _:
                await nodes_kv.put("n1", b'{"id": "n1"}')  # membership entries expire by TTL
                assert [k for k, _ in await kv_values(nodes_kv)] == ["n1"]

    # a dashboard polling in parallel: 10 listings at a time
    for start in range(0, LISTINGS, 10):
        await asyncio.gather(*(one_round(i) for i in range(start, start + 10)))
    for bucket in (names.TASKS_BUCKET, names.APPROVALS_BUCKET, names.NODES_BUCKET, "hydra_policy",
                   "hydra_schedule"):
        assert await consumers(bus, bucket) == 0, bucket  # every scan deleted its consumer (a leak: ~1,000)


async def test_kv_scan_skips_deleted_and_purged_keys_and_sees_the_latest_value(bus: Bus) -> None:
    kv = await bus.kv(names.TASKS_BUCKET)
    await kv.put("a.1", b"one")
    await kv.put("a.1", b"one again")
    await kv.put("a.2", b"two")
    await kv.put("a.3", b"three")
    await kv.put("b.1", b"other prefix")
    await kv.delete("a.2")
    await kv.purge("a.3")
    items = await kv_scan(kv, "a.>")
    assert [(i.key, i.value) for i in items] == [("a.1", b"one again")]
    assert items[0].revision == (await kv.get("a.1")).revision
    assert await kv_scan(kv, "nothing.>") == []
    assert await consumers(bus, names.TASKS_BUCKET) == 0


@pytest.mark.parametrize("n", [600])
async def test_kv_scan_reads_more_keys_than_one_batch(bus: Bus, n: int) -> None:
    kv = await bus.kv(names.TASKS_BUCKET)
    await asyncio.gather(*(kv.put(f"many.{i}", str(i).encode()) for i in range(n)))
    items = await kv_scan(kv, "many.>")
    assert sorted(int(i.value) for i in items) == list(range(n))
