"""Task queue and scheduler figures against real daemons on a real nats-server.

    .venv/bin/python bench/tasks.py [--quick]

1. enqueue-to-start with an idle worker node (p50/p90 over sequential tasks);
2. trivial tasks/s through one worker node (tasks queued first, then drained);
3. chaos: 1,000 two-step tasks over three worker nodes, one of them kill -9'd (and restarted) at random
   every 2-4 s: every task must end succeeded, exactly one stored result each, none lost; redeliveries
   and duplicate step executions are counted;
4. scheduler leader kill -9: time until another node holds the lock, and whether any slot ran twice.

Prints a table and writes bench/results/tasks.json. Medians are quoted. There is no external peer to
run beside: the issue names target numbers (p50 <= 20 ms, >= 500 tasks/s, new leader < 5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hydra_os.bus import names  # noqa: E402
from hydra_os.bus.client import Bus  # noqa: E402
from hydra_os.config import BusConfig, OwnerConfig  # noqa: E402
from hydra_os.scheduler.leader import current_leader  # noqa: E402
from hydra_os.sections.tasks import TasksConfig  # noqa: E402
from hydra_os.tasks.model import Task, TaskSpec  # noqa: E402
from hydra_os.tasks.queue import TaskQueue  # noqa: E402
from hydra_os.tasks.store import TaskStore  # noqa: E402
from hydra_os.tasks.windows import Windows  # noqa: E402
from tests.helpers import DaemonProc, NatsProc, daemon_env, free_port  # noqa: E402
from tests.tasks.kinds import read_log  # noqa: E402


def env(nats: NatsProc, roles: str, **extra: str) -> dict[str, str]:
    settings = {"HYDRA_NODE__ROLES": roles, "HYDRA_BUS__URL": nats.url, "HYDRA_LOG__LEVEL": "WARNING",
                "HYDRA_TASKS__KIND_MODULES": '["tests.tasks.kinds"]', "HYDRA_TASKS__ACK_WAIT_S": "2",
                "HYDRA_TASKS__CONCURRENCY": "32"}
    return daemon_env(**{**settings, **extra})


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


async def wait_all_terminal(store: TaskStore, ids: set[str], timeout: float) -> list[Task]:
    deadline = time.monotonic() + timeout
    while True:
        info = await store.bus.js.stream_info(names.TASKS_STREAM)
        if info.state.messages == 0 or time.monotonic() > deadline:
            tasks = [t for t in await store.all_tasks() if t.id in ids]
            if (all(t.terminal for t in tasks) and len(tasks) == len(ids)) or time.monotonic() > deadline:
                return tasks
        await asyncio.sleep(0.5)


async def enqueue_many(q: TaskQueue, specs: list[TaskSpec], inflight: int = 64) -> list[str]:
    sem = asyncio.Semaphore(inflight)

    async def one(s: TaskSpec) -> str:
        async with sem:
            return (await q.enqueue(s)).task.id

    return list(await asyncio.gather(*(one(s) for s in specs)))


async def bench_latency_and_throughput(nats: NatsProc, base: Path, n_lat: int, n_tp: int) -> dict[str, Any]:
    async with Bus([nats.url], BusConfig(), name="bench") as bus:
        await bus.ensure_topology(3.0)
        q = TaskQueue(bus, TasksConfig(), Windows(OwnerConfig()), actor="bench")
        # throughput: queue first, then one worker node drains
        ids = await enqueue_many(q, [TaskSpec(kind="test.stamp", source="bench") for _ in range(n_tp)])
        w = DaemonProc("tp", base / "tp", env(nats, "worker"))
        w.start()
        try:
            tasks = await wait_all_terminal(q.store, set(ids), 300)
            ok = [t for t in tasks if t.state == "succeeded"]
            first = min(t.started_at or 0 for t in ok)
            last = max(t.finished_at or 0 for t in ok)
            tp = {"tasks": n_tp, "succeeded": len(ok), "seconds": round(last - first, 3),
                  "tasks_per_s": round(len(ok) / (last - first), 1)}
            # latency: sequential tasks on the now idle worker
            lat = []
            for _ in range(n_lat):
                await asyncio.sleep(0.05)
                t0 = time.time()
                res = await q.enqueue(TaskSpec(kind="test.stamp", source="bench"))
                while True:
                    t = await q.get(res.task.id)
                    if t.terminal:
                        break
                    await asyncio.sleep(0.005)
                lat.append((t.result["started"] - t0) * 1000)
        finally:
            w.stop()
    return {"throughput": tp, "enqueue_to_start_ms": {
        "n": n_lat, "p50": round(statistics.median(lat), 2), "p90": round(pct(lat, 0.9), 2),
        "max": round(max(lat), 2)}}


async def bench_chaos(nats: NatsProc, base: Path, n: int, workers: int, budget_s: float) -> dict[str, Any]:
    log = str(base / "chaos.log")
    procs = [DaemonProc(f"c{i}", base / f"c{i}", env(nats, "worker", HYDRA_TASKS__CONCURRENCY="16"))
             for i in range(workers)]
    for p in procs:
        p.start()
    kills = 0
    async with Bus([nats.url], BusConfig(), name="bench-chaos") as bus:
        q = TaskQueue(bus, TasksConfig(), Windows(OwnerConfig()), actor="bench")
        specs = [TaskSpec(kind="test.work", idempotency_key=f"chaos-{i}", source="bench",
                          params={"log": log, "seconds": round(random.uniform(0.2, 1.0), 3)}) for i in range(n)]
        t0 = time.monotonic()
        ids = set(await enqueue_many(q, specs))
        again = await enqueue_many(q, specs[:50])  # re-sending the same keys creates nothing
        assert set(again) <= ids
        rng = random.Random(6)
        next_kill = time.monotonic() + rng.uniform(2, 4)
        while time.monotonic() - t0 < budget_s:
            if time.monotonic() >= next_kill:
                victim = rng.choice(procs)
                victim.kill9()
                kills += 1
                victim.start(wait_ready=False)
                next_kill = time.monotonic() + rng.uniform(2, 4)
            info = await bus.js.stream_info(names.TASKS_STREAM)
            if info.state.messages == 0:
                tasks = [t for t in await q.store.all_tasks() if t.id in ids]
                if len(tasks) == n and all(t.terminal for t in tasks):
                    break
            await asyncio.sleep(0.25)
        elapsed = time.monotonic() - t0
        tasks = [t for t in await q.store.all_tasks() if t.id in ids]
    for p in procs:
        p.stop()
    finishes = Counter(e["task"] for e in read_log(log) if e["event"] == "finish")
    states = Counter(t.state for t in tasks)
    redelivered = [t for t in tasks if t.attempts > 1]
    return {
        "tasks": n, "workers": workers, "kills": kills, "seconds": round(elapsed, 1),
        "states": dict(states), "lost": n - states.get("succeeded", 0),
        "stored_results": sum(1 for t in tasks if t.state == "succeeded" and t.result is not None),
        "tasks_redelivered": len(redelivered), "extra_attempts": sum(t.attempts - 1 for t in tasks),
        "max_attempts": max((t.attempts for t in tasks), default=0),
        "final_step_ran_more_than_once": sum(1 for c in finishes.values() if c > 1),
        "final_step_never_logged": sum(1 for t in ids if finishes.get(t, 0) == 0),
        "distinct_tasks": len(ids),
    }


async def bench_failover(nats: NatsProc, base: Path, rounds: int) -> dict[str, Any]:
    log = str(base / "ticks.log")
    jobs = json.dumps([{"id": "tick", "kind": "test.tick", "every_s": 1, "params": {"log": log}}])
    extra = {"HYDRA_TASKS__SCHEDULER__JOBS": jobs, "HYDRA_TASKS__SCHEDULER__BUILTIN_JOBS": "[]"}
    procs = {name: DaemonProc(name, base / name, env(nats, "scheduler,worker", **extra)) for name in ("la", "lb")}
    for p in procs.values():
        p.start()
    times = []
    async with Bus([nats.url], BusConfig(), name="bench-leader") as bus:
        for _ in range(rounds):
            holder = None
            while not holder:
                holder = await current_leader(bus)
                await asyncio.sleep(0.05)
            await asyncio.sleep(2.5)
            victim = procs[holder["node"]]
            t0 = time.monotonic()
            victim.kill9()
            while True:
                h = await current_leader(bus)
                if h and h["node"] != victim.node_id:
                    break
                await asyncio.sleep(0.02)
            times.append(time.monotonic() - t0)
            victim.start()
        await asyncio.sleep(2)
    for p in procs.values():
        p.stop()
    keys = Counter(e["key"] for e in read_log(log))
    return {"rounds": rounds, "new_leader_s": {"p50": round(statistics.median(times), 2),
                                               "max": round(max(times), 2), "all": [round(t, 2) for t in times]},
            "slots_run": len(keys), "slots_run_twice": sum(1 for c in keys.values() if c > 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="Smaller runs (for a smoke check).")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "tasks.json")
    args = ap.parse_args()
    n_lat, n_tp, n_chaos, rounds = (20, 300, 100, 1) if args.quick else (200, 3000, 1000, 3)
    results: dict[str, Any] = {"host": platform.node(), "python": platform.python_version(),
                               "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with tempfile.TemporaryDirectory(prefix="hydra-bench-") as tmp:
        base = Path(tmp)
        for name, fn in [
            ("single_worker", lambda nats: bench_latency_and_throughput(nats, base, n_lat, n_tp)),
            ("chaos", lambda nats: bench_chaos(nats, base, n_chaos, 3, 300)),
            ("leader_failover", lambda nats: bench_failover(nats, base, rounds)),
        ]:
            nats = NatsProc(name, free_port(), base / f"nats-{name}").start()
            try:
                results[name] = asyncio.run(fn(nats))
            finally:
                nats.stop()
            print(f"{name}: {json.dumps(results[name])}", flush=True)
    sw, ch, lf = results["single_worker"], results["chaos"], results["leader_failover"]
    rows = [
        ("enqueue-to-start p50 (idle worker)", f"{sw['enqueue_to_start_ms']['p50']} ms", "<= 20 ms"),
        ("enqueue-to-start p90", f"{sw['enqueue_to_start_ms']['p90']} ms", ""),
        ("trivial tasks/s, one worker node", f"{sw['throughput']['tasks_per_s']}", ">= 500"),
        (f"chaos: {ch['tasks']} tasks, {ch['kills']} kill -9", f"{ch['states']}", "all succeeded"),
        ("chaos: lost / stored results", f"{ch['lost']} / {ch['stored_results']}", f"0 / {ch['tasks']}"),
        ("chaos: tasks redelivered (extra attempts)", f"{ch['tasks_redelivered']} ({ch['extra_attempts']})", ""),
        ("chaos: final step ran twice (killed before ack)", f"{ch['final_step_ran_more_than_once']}", ""),
        ("leader kill -9 -> new leader p50 / max", f"{lf['new_leader_s']['p50']} s / {lf['new_leader_s']['max']} s",
         "< 5 s"),
        ("recurring slots run twice", f"{lf['slots_run_twice']} of {lf['slots_run']}", "0"),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{w}}  {'result':<40} target")
    for r in rows:
        print(f"{r[0]:<{w}}  {r[1]:<40} {r[2]}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
