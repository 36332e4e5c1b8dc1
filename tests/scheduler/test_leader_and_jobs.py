"""Leader lock over the real hydra_leader bucket; job slots, per-slot idempotency, APScheduler store."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.config import BusConfig, Settings
from hydra_os.scheduler.jobs import build_jobs, slot_key, slot_of
from hydra_os.scheduler.leader import LeaderLock, current_leader
from hydra_os.scheduler.service import SchedulerService
from hydra_os.sections.tasks import TasksConfig
from hydra_os.tasks.queue import TaskQueue
from hydra_os.tasks.store import TaskStore
from hydra_os.tasks.windows import Windows

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
async def bus2(nats_server: EmbeddedNats) -> AsyncIterator[Bus]:
    assert nats_server.url
    async with Bus([nats_server.url], BusConfig(), name="test2") as b:
        yield b


async def until(pred: object, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if pred():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_one_leader_failover_and_split_brain_guard(bus: Bus, bus2: Bus) -> None:
    a = LeaderLock(bus, "a", lease_s=1.0, renew_s=0.3, poll_s=0.1)
    b = LeaderLock(bus2, "b", lease_s=1.0, renew_s=0.3, poll_s=0.1)
    await a.start()
    await until(lambda: a.is_leader, 5, "a leads")
    await b.start()
    await asyncio.sleep(1.5)  # a renews; b must not take over a live leader
    assert a.is_leader and not b.is_leader and b.leader == "a"
    assert (await current_leader(bus))["node"] == "a"  # type: ignore[index]

    # a "dies": its loop stops without releasing the lock
    (loop,) = a._tasks.tasks()
    loop.cancel()
    await until(lambda: b.is_leader, 5, "b takes over")
    assert (await current_leader(bus))["node"] == "b"  # type: ignore[index]
    # a wakes up believing it still leads: its renewal fails on the revision, it steps down
    kv = await bus.kv("hydra_leader")
    await a._renew(kv)
    assert not a.is_leader and b.is_leader

    # a clean stop hands over at once (the key is deleted)
    await a.start()
    await b.stop()
    await until(lambda: a.is_leader, 2, "a leads again after b stopped")
    await a.stop()
    assert await current_leader(bus) is None


def settings(tmp_path: Path, name: str, **tasks: object) -> Settings:
    return Settings(node={"id": name, "state_dir": tmp_path / name},  # type: ignore[arg-type]
                    owner={"timezone": "Europe/Berlin", "wake_time": "07:00"},  # type: ignore[arg-type]
                    tasks=tasks)  # type: ignore[arg-type]


def test_builtin_jobs_follow_the_owner_zone(tmp_path: Path) -> None:
    s = settings(tmp_path, "n")
    jobs = {j.id: j for j in build_jobs(s, s.tasks)}
    assert set(jobs) == {"health", "briefing", "overnight-open", "overnight-close", "memory-maintenance", "backup"}
    # the nightly backup: 30 min after the overnight window opens (01:00 owner's time), inside the window
    night = datetime(2025, 6, 2, 1, 30, tzinfo=BERLIN)
    assert slot_of(jobs["backup"], datetime(2025, 6, 2, 2, 0, tzinfo=BERLIN)) == night
    assert jobs["backup"].kind == "backup.run" and jobs["backup"].window == "overnight"
    now = datetime(2025, 6, 2, 7, 10, tzinfo=BERLIN)
    assert slot_of(jobs["briefing"], now) == datetime(2025, 6, 2, 6, 45, tzinfo=BERLIN)
    assert slot_key("briefing", datetime(2025, 6, 2, 6, 45, tzinfo=BERLIN)) == "sched:briefing:20250602T044500Z"
    assert slot_of(jobs["overnight-open"], datetime(2025, 6, 2, 1, 30, tzinfo=BERLIN)) == \
        datetime(2025, 6, 2, 1, 0, tzinfo=BERLIN)
    assert slot_of(jobs["overnight-open"], datetime(2025, 6, 2, 12, 0, tzinfo=BERLIN)) is None  # past its grace
    h = jobs["health"]
    assert slot_of(h, datetime(2025, 6, 2, 7, 10, 59, tzinfo=BERLIN)) == datetime(2025, 6, 2, 7, 10, tzinfo=BERLIN)
    only = TasksConfig(scheduler={"builtin_jobs": [], "jobs": [  # type: ignore[arg-type]
        {"id": "weekly", "kind": "research.digest", "cron": "0 9 * * mon"}]})
    (weekly,) = build_jobs(s, only)
    assert slot_of(weekly, datetime(2025, 6, 4, 12, 0, tzinfo=BERLIN)) is None
    assert slot_of(weekly, datetime(2025, 6, 2, 9, 30, tzinfo=BERLIN)) == datetime(2025, 6, 2, 9, 0, tzinfo=BERLIN)


async def test_a_slot_runs_once_across_leaders(bus: Bus, bus2: Bus, tmp_path: Path) -> None:
    cfg = {"scheduler": {"builtin_jobs": ["overnight"], "lease_s": 1.0, "renew_s": 0.3, "poll_s": 0.1,
                         "jobs": [{"id": "tick", "kind": "test.once", "every_s": 60, "params": {"n": 1}},
                                  {"id": "orphan", "kind": "nobody.handles", "every_s": 60}]}}
    sa, sb = settings(tmp_path, "a", **cfg), settings(tmp_path, "b", **cfg)
    await TaskStore(bus).advertise_kinds("w1", ["test.once"])

    def live() -> list[str]:
        return ["w1", "a", "b"]

    a = SchedulerService(sa, sa.tasks, TaskQueue(bus, sa.tasks, Windows(sa.owner), actor="a"), live_nodes=live)
    b = SchedulerService(sb, sb.tasks, TaskQueue(bus2, sb.tasks, Windows(sb.owner), actor="b"), live_nodes=live)
    await a.start()
    await until(lambda: "orphan" in a.last, 10, "a leads and caught up")
    await b.start()
    try:
        # election ran the catch-up: the current tick slot was enqueued once
        assert a.last["tick"]["outcome"] == "enqueued", a.last
        assert a.last["orphan"]["outcome"] == "skipped" and "nobody.handles" in a.last["orphan"]["reason"]
        fixed = datetime.now(BERLIN)
        again = await a.run_job("tick", now=fixed)
        assert again["outcome"] == "already-ran"
        view = a.describe()
        assert {j["id"] for j in view["jobs"]} == {"tick", "orphan", "overnight-open", "overnight-close"}
        assert all(j["next_run"] for j in view["jobs"])
        # the job store is APScheduler's SQLAlchemy store in the state dir
        with sqlite3.connect(a.store_path) as db:
            stored = {r[0] for r in db.execute("select id from apscheduler_jobs")}
        assert stored == {"tick", "orphan", "overnight-open", "overnight-close"}
        assert (await b.run_job("tick", now=fixed))["outcome"] == "not-leader"

        await a.stop()  # hand over; b's catch-up fires the same slot and is refused
        await until(lambda: "tick" in b.last, 10, "b leads and caught up")
        assert b.last["tick"]["outcome"] == "already-ran", b.last
        assert b.last["tick"]["slot"] == a.last["tick"]["slot"]
        tasks = [t for t in await TaskStore(bus).all_tasks() if t.kind == "test.once"]
        assert len(tasks) == 1 and tasks[0].source == "scheduler"
        assert tasks[0].idempotency_key.startswith("sched:tick:")
    finally:
        await a.stop()
        await b.stop()
