"""A corrupt ``scheduler.sqlite``: the node backs off from the election, the healthy peer leads, healing
raises one incident whose fixup (asked first) moves the file aside, and the node can lead again."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path
from typing import Any

from hydra_os.bus.client import Bus
from hydra_os.healing.checks.scheduler_store import SchedulerStoreCheck
from hydra_os.healing.context import HealingContext
from hydra_os.healing.healer import Healer
from hydra_os.healing.incidents import IncidentStore
from hydra_os.healing.registry import discover_checks, discover_fixups
from hydra_os.notify import LogFileNotifier
from hydra_os.policy.approval_runner import ApprovalRunner
from hydra_os.scheduler.service import SchedulerService
from hydra_os.sections.healing import HealingConfig
from hydra_os.tasks.queue import TaskQueue
from hydra_os.tasks.windows import Windows
from tests.healing.conftest import make_gate
from tests.scheduler.test_leader_and_jobs import bus2, settings, until

__all__ = ["bus2"]  # the second connection fixture

CFG = {"scheduler": {"builtin_jobs": [], "lease_s": 1.0, "renew_s": 0.3, "poll_s": 0.1,
                     "jobs": [{"id": "tick", "kind": "test.once", "every_s": 60}]}}


def _corrupt(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"this is not an SQLite database " + os.urandom(4096)
    path.write_bytes(data)
    return data


def _service(tmp_path: Path, bus: Bus, name: str) -> SchedulerService:
    s = settings(tmp_path, name, **CFG)
    return SchedulerService(s, s.tasks, TaskQueue(bus, s.tasks, Windows(s.owner), actor=name))


async def test_a_node_with_a_corrupt_store_backs_off_and_the_peer_leads(bus: Bus, bus2: Bus, tmp_path: Path) -> None:
    a, b = _service(tmp_path, bus, "a"), _service(tmp_path, bus2, "b")
    bad = _corrupt(a.store_path)
    await a.start()
    try:
        await until(lambda: a.lock.elections >= 1, 10, "a wins the free lock (and fails to start)")
        await asyncio.sleep(3)  # alone, the old loop re-won the free lock every poll (0.1 s here): ~30 times
        assert a.lock.elections <= 3, a.lock.elections
        await b.start()
        await until(lambda: b.lock.is_leader, 15, "the healthy peer leads")
        await asyncio.sleep(2)
        assert not a.lock.is_leader and b.lock.is_leader
        st = a.status()
        assert str(a.store_path) in st["start_error"] and "move it aside" in st["start_error"]
        assert a.store_path.read_bytes() == bad  # the scheduler itself never touches it
    finally:
        await a.stop()
        await b.stop()


async def test_healing_raises_one_incident_and_offers_to_move_the_file_aside(bus: Bus, tmp_path: Path) -> None:
    store = tmp_path / "n1" / "scheduler.sqlite"
    bad = _corrupt(store)
    gate = await make_gate(bus)
    context = HealingContext(HealingConfig(check_bus=False), "n1", tmp_path, scheduler_store=store)
    healer = Healer(context, gate, IncidentStore(tmp_path / "incidents.json"), LogFileNotifier(tmp_path / "notes.log"),
                    discover_checks(), discover_fixups())
    healer.register()
    healer.started.set()  # rounds are driven by hand here; the component's start() sets this
    incidents: list[Any] = []
    for _ in range(3):
        incidents = [i for i in await healer.run_once() if i.check == "scheduler_store"]
    [inc] = incidents  # one incident across rounds
    assert inc.root == f"file:{store}" and str(store) in inc.summary
    [act] = inc.actions  # offered once, not resubmitted every round
    assert act.kind == "scheduler.store.move_aside" and act.status == "pending" and act.approval_id
    assert store.read_bytes() == bad  # nothing moved before the owner agrees

    assert gate.approvals is not None
    runner = ApprovalRunner(gate, gate.approvals)  # what runs approved actions on the parking node
    watch = asyncio.create_task(runner.watch())
    try:
        await gate.approvals.approve(act.approval_id, by="owner")
        await until(lambda: not store.exists(), 20, "the approved fixup moved the file aside")
    finally:
        watch.cancel()
    [aside] = list(store.parent.glob("scheduler.sqlite.corrupt-*"))
    assert aside.read_bytes() == bad and not store.exists()


async def test_the_check_passes_a_healthy_store(tmp_path: Path) -> None:
    store = tmp_path / "scheduler.sqlite"
    with sqlite3.connect(store) as db:
        db.execute("create table t (x)")
    rep = await SchedulerStoreCheck().run(HealingContext(HealingConfig(), "n1", tmp_path, scheduler_store=store))
    assert rep.issues == [] and [str(t) for t in rep.checked] == [f"file:{store}"]
