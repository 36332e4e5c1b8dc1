"""Real ``hydra run`` daemons on a real nats-server: kill -9 mid-task, leader failover, API and CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig
from hydra_os.scheduler.leader import current_leader
from hydra_os.tasks.checkpoints import CheckpointStore
from hydra_os.tasks.store import TaskStore
from tests.helpers import REPO, DaemonProc, NatsProc, daemon_env, wait_for
from tests.tasks.kinds import read_log

pytestmark = pytest.mark.e2e


def node_env(nats: NatsProc, roles: list[str], **extra: str) -> dict[str, str]:
    return daemon_env(
        HYDRA_NODE__ROLES=",".join(roles),
        HYDRA_BUS__URL=nats.url,
        HYDRA_TASKS__KIND_MODULES='["tests.tasks.kinds"]',
        HYDRA_TASKS__ACK_WAIT_S="2",
        HYDRA_TASKS__POLL_S="0.3",
        HYDRA_LOG__LEVEL="INFO",
        **extra,
    )


def cli(nats: NatsProc, *args: str) -> subprocess.CompletedProcess[str]:
    env = daemon_env(HYDRA_BUS__URL=nats.url)
    return subprocess.run([sys.executable, "-m", "hydra_os", *args], env=env, cwd=str(REPO),
                          capture_output=True, text=True, timeout=30)


def cli_json(nats: NatsProc, *args: str) -> Any:
    r = cli(nats, *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def on_bus(nats: NatsProc, fn: Any) -> Any:
    """Read cluster state directly (a CLI subprocess per poll would cost seconds)."""
    async def go() -> Any:
        async with Bus([nats.url], BusConfig(), name="test-probe") as bus:
            return await fn(bus)

    return asyncio.run(go())


def task_view(nats: NatsProc, task_id: str) -> dict[str, Any]:
    async def read(bus: Bus) -> dict[str, Any]:
        store = TaskStore(bus)
        task, _ = await store.get(task_id)
        cps = await CheckpointStore(store, task_id).all()
        return {"task": task.model_dump(mode="json"),
                "checkpoints": [c.model_dump() for c in sorted(cps.values(), key=lambda c: c.finished_at)]}

    return on_bus(nats, read)  # type: ignore[no-any-return]


def leader_of(nats: NatsProc) -> str | None:
    async def read(bus: Bus) -> str | None:
        holder = await current_leader(bus)
        return str(holder["node"]) if holder else None

    return on_bus(nats, read)  # type: ignore[no-any-return]


@pytest.fixture
def daemons() -> Iterator[list[DaemonProc]]:
    started: list[DaemonProc] = []
    yield started
    for d in started:
        d.stop()


def test_worker_killed_mid_task_resumes_elsewhere_after_last_finished_step(
        nats_proc: NatsProc, tmp_path: Path, daemons: list[DaemonProc]) -> None:
    log = str(tmp_path / "steps.log")
    a = DaemonProc("wa", tmp_path / "wa", node_env(nats_proc, ["worker"]))
    daemons.append(a)
    a.start()
    r = cli(nats_proc, "queue", f"test.pipeline log={log} seconds=1.2", "--json")
    assert r.returncode == 0, r.stderr
    task_id = json.loads(r.stdout)["task"]["id"]
    wait_for(lambda: any(e["event"] == "start" and e["step"] == "two" for e in read_log(log)), 15,
             what="step two started on wa")
    a.kill9()
    b = DaemonProc("wb", tmp_path / "wb", node_env(nats_proc, ["worker"]))
    daemons.append(b)
    b.start()

    def finished() -> dict[str, Any] | None:
        view = task_view(nats_proc, task_id)
        return view if view["task"]["state"] == "succeeded" else None

    view = wait_for(finished, 30, interval=0.2, what="task finished on wb")
    task = view["task"]
    runs = Counter((e["event"], e["step"]) for e in read_log(log))
    assert runs[("start", "one")] == 1 and runs[("done", "one")] == 1  # not redone after the kill
    assert runs[("start", "two")] == 2 and runs[("done", "two")] == 1  # interrupted on wa, redone on wb
    assert runs[("start", "three")] == 1
    nodes = {e["step"]: e["node"] for e in read_log(log) if e["event"] == "done"}
    assert nodes == {"one": "wa", "two": "wb", "three": "wb"}
    assert task["attempts"] == 2 and task["failures"] == 0 and task["worker"] == "wb"
    started = [h for h in task["history"] if h["event"] == "started"]
    assert [h["node"] for h in started] == ["wa", "wb"]
    assert [c["step"] for c in view["checkpoints"]] == ["one", "two", "three"]
    assert task["result"]["saw"] == ["one", "two"]


def test_runtime_jobs_from_cli_and_api_survive_leader_failover_no_slot_twice(
        nats_proc: NatsProc, tmp_path: Path, daemons: list[DaemonProc]) -> None:
    log = str(tmp_path / "ticks.log")
    extra = {"HYDRA_TASKS__SCHEDULER__BUILTIN_JOBS": '["overnight"]'}
    first = DaemonProc("sa", tmp_path / "sa", node_env(nats_proc, ["scheduler", "worker", "gateway"], **extra))
    daemons.append(first)
    first.start()
    second = DaemonProc("sb", tmp_path / "sb", node_env(nats_proc, ["scheduler", "worker", "gateway"], **extra))
    daemons.append(second)
    second.start()
    leader_id = wait_for(lambda: leader_of(nats_proc), 10, what="a scheduler leader")
    leader = {"sa": first, "sb": second}[leader_id]
    survivor = second if leader is first else first
    # a job added over the CLI, another over the API (of the follower: any node's API writes the bucket)
    added = cli_json(nats_proc, "schedule", "add", "tick", "--kind", "test.tick", "--every", "1", "-p", f"log={log}")
    assert added["job"]["every_s"] == 1 and added["source"] == "cli" and added["next_run"]
    with survivor.client() as c:
        tock = {"id": "tock", "kind": "test.tick", "every_s": 1, "params": {"log": log}, "misfire_grace_s": 30}
        r = c.post("/v1/schedule", json=tock, params={"title": "second ticker"})
        assert r.status_code == 201 and r.json()["source"] == "api", r.text
        assert c.post("/v1/schedule", json=tock).status_code == 409
        bad = c.post("/v1/schedule", json={"id": "x", "kind": "test.tick", "cron": "every monday"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["msg"].startswith("cron:")  # the documented shape
        assert bad.json()["detail"][0]["loc"] == ["body", "cron"]
        assert c.post("/v1/schedule", json={"id": "health", "kind": "a.b", "every_s": 5}).status_code == 422
    r = cli(nats_proc, "schedule", "add", "bad", "--kind", "test.tick")
    assert r.returncode == 2 and "exactly one of 'cron' or 'every_s'" in r.stderr and "Traceback" not in r.stderr

    def ticks(job: str, after: float = 0.0) -> list[dict[str, Any]]:
        return [e for e in read_log(log) if e["key"].startswith(f"sched:{job}:") and e["ts"] > after]

    wait_for(lambda: len(ticks("tick")) >= 2 and len(ticks("tock")) >= 2, 20, what="ticks of both jobs")
    with survivor.client() as c:
        sched = c.get("/v1/schedule").json()
    assert sched["node"] == leader.node_id
    sources = {j["id"]: j["source"] for j in sched["jobs"]}
    assert sources["tick"] == sources["tock"] == "runtime" and sources["overnight-open"] == "builtin"

    killed_at = time.time()
    leader.kill9()
    wait_for(lambda: leader_of(nats_proc) == survivor.node_id, 15, interval=0.1, what="the survivor leads")
    new = cli_json(nats_proc, "schedule", "list")
    assert new["node"] == survivor.node_id and new["is_leader"] and new["elections"] == 1
    assert {"tick", "tock"} <= {j["id"] for j in new["jobs"]}  # the new leader read them from the bucket
    wait_for(lambda: any(e["node"] == survivor.node_id for e in ticks("tick", killed_at + 1))
             and any(e["node"] == survivor.node_id for e in ticks("tock", killed_at + 1)), 20,
             what="both jobs tick after the failover")
    keys = [e["key"] for e in read_log(log)]
    assert len(keys) == len(set(keys)), f"a slot ran twice: {Counter(keys).most_common(3)}"
    tasks = on_bus(nats_proc, lambda bus: TaskStore(bus).all_tasks())
    tick_keys = [t.idempotency_key for t in tasks if t.kind == "test.tick"]
    assert len(tick_keys) == len(set(tick_keys))

    with survivor.client() as c:
        assert c.delete("/v1/schedule/tock").status_code == 200
        assert c.delete("/v1/schedule/tock").status_code == 404
    removed_at = time.time()
    assert cli(nats_proc, "schedule", "remove", "tick").returncode == 0
    r = cli(nats_proc, "schedule", "remove", "tick")
    assert r.returncode == 2 and "no scheduled job 'tick'" in r.stderr
    wait_for(lambda: not {"tick", "tock"} & {j["id"] for j in cli_json(nats_proc, "schedule", "list")["jobs"]},
             15, interval=0.3, what="the leader dropped the removed jobs")
    settled = time.time()
    time.sleep(2.5)  # two more slots pass: neither removed job may run in them
    late = [e for e in read_log(log) if e["ts"] > max(settled, removed_at + 1)]
    assert late == [], late


def test_api_and_cli_bad_input(nats_proc: NatsProc, tmp_path: Path, daemons: list[DaemonProc]) -> None:
    d = DaemonProc("api1", tmp_path / "api1", node_env(nats_proc, ["gateway", "worker"]))
    daemons.append(d)
    d.start()
    with d.client() as c:
        r = c.post("/v1/tasks", json={"kind": "diag.echo", "params": {"x": 1}, "idempotency_key": "api-1"})
        assert r.status_code == 201, r.text
        tid = r.json()["task"]["id"]
        r2 = c.post("/v1/tasks", json={"kind": "diag.echo", "idempotency_key": "api-1"})
        assert r2.status_code == 200 and r2.json()["created"] is False and r2.json()["task"]["id"] == tid
        bad = c.post("/v1/tasks", json={"kind": "Diag Echo", "priority": "asap"})
        assert bad.status_code == 422
        fields = {tuple(e["loc"]) for e in bad.json()["detail"]}
        assert ("body", "kind") in fields and ("body", "priority") in fields
        wait_for(lambda: c.get(f"/v1/tasks/{tid}").json()["task"]["state"] == "succeeded", 10, what="echo")
        shown = c.get(f"/v1/tasks/{tid}").json()["task"]
        assert shown["result"]["echo"] == {"x": 1}
        assert c.get("/v1/tasks/nope").status_code == 404
        conflict = c.post(f"/v1/tasks/{tid}/cancel")
        assert conflict.status_code == 409 and "already succeeded" in conflict.json()["detail"]
        assert c.post(f"/v1/tasks/{tid}/retry").status_code == 409
        assert any(t["id"] == tid for t in c.get("/v1/tasks", params={"all": "true"}).json())
        assert "diag.echo" in c.get("/v1/task-kinds").json()["api1"]
        no_leader = c.get("/v1/schedule")  # no scheduler role anywhere: says so
        assert no_leader.status_code == 503 and "no scheduler leader" in no_leader.json()["detail"]
    assert httpx.get(d.api_url + "/v1/tasks").status_code == 401

    r = cli(nats_proc, "queue", "diag.echo", "--priority", "asap")
    assert r.returncode == 2 and "priority" in r.stderr and "Traceback" not in r.stderr
    r = cli(nats_proc, "tasks", "show", "doesnotexist")
    assert r.returncode == 2 and "no task" in r.stderr
    r = cli(nats_proc, "queue", "diag.echo x=1", "--key", "api-1")
    assert r.returncode == 0 and f"already queued as {tid}" in r.stdout
