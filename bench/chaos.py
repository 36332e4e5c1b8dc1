"""Memory writes through daemon crashes and freezes, counted: attempted, acknowledged, present after,
duplicated, lost. Real ``hydra run`` memory daemon, real nats-server, the real MemoryClient.

    .venv/bin/python bench/chaos.py [--quick]

Writers append learnings (each a unique text; a learning has no content dedup, so a write applied
twice shows as two entries) and core-block lines (unique tokens in one block) while the memory daemon
is disturbed:

1. ``kill9``: the daemon is kill -9'd and restarted; the next kill comes 2-4 s after memory serves
   again;
2. ``freeze``: the daemon is SIGSTOPped for 1.5-3 s at random every 2-4 s (longer than the client's
   1 s timeout, so replies are lost while writes are still applied later).

The writes of each kind are spread over 60 s (15 s with ``--quick``), 8 in flight at most. Each write
is retried until it is acknowledged (or ``--give-up-s``), in two modes per scenario:
``same-id`` retries with the request id of the first try (what ``MemoryOutcomeUnknownError`` asks
for), ``new-id`` retries as a fresh write (what a caller did before request ids). Counts per mode:
``attempted`` writes, ``acknowledged`` (a reply came), ``unknown`` (still no reply at give-up),
``present`` after (read back once the daemon is calm), ``duplicated`` (present more than once) and
``lost`` (acknowledged but absent). The memory node records each id right after its write (fsync)
and reloads them at start; a kill -9 between the write and that record can still let a same-id retry
apply twice: that is what the kill9 same-id row measures.

Prints a table and writes bench/results/chaos.json. Nothing else ran beside it on purpose, but the
machine is shared (2 cores, other agents' work): figures are counts, not timings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hydra_os.bus.client import Bus  # noqa: E402
from hydra_os.config import BusConfig  # noqa: E402
from memory.client import MemoryClient  # noqa: E402
from memory.errors import MemoryLayerError, MemoryOutcomeUnknownError, MemoryUnavailableError  # noqa: E402
from memory.protocols import Block  # noqa: E402
from tests.helpers import DaemonProc, NatsProc, daemon_env, free_port  # noqa: E402

BLOCK = "chaos"


def mem_env(nats: NatsProc) -> dict[str, str]:
    return daemon_env(HYDRA_NODE__ROLES="memory", HYDRA_BUS__URL=nats.url, HYDRA_LOG__LEVEL="WARNING",
                      HYDRA_MEMORY__EMBED__BACKEND="hashing")


async def wait_serving(client: MemoryClient, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            await client.call("info", timeout=2)
            return
        except MemoryLayerError:
            if time.monotonic() > end:
                raise
            await asyncio.sleep(0.2)


class Disturber:
    """kill -9 + restart, or SIGSTOP/SIGCONT, of the memory daemon at random intervals."""

    def __init__(self, daemon: DaemonProc, how: str, rng: random.Random, client: MemoryClient) -> None:
        self.d, self.how, self.rng, self.client = daemon, how, rng, client
        self.events = 0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.rng.uniform(2, 4))
                return
            except TimeoutError:
                pass
            assert self.d.proc is not None
            if self.how == "kill9":
                self.d.kill9()
                self.events += 1
                await asyncio.to_thread(self.d.start, False)
                await wait_serving(self.client)  # the next kill comes 2-4 s after memory serves again
            else:
                os.kill(self.d.proc.pid, signal.SIGSTOP)
                self.events += 1
                await asyncio.sleep(self.rng.uniform(1.5, 3.0))
                os.kill(self.d.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        self._stop.set()


async def write(client: MemoryClient, verb: str, params: dict[str, Any], mode: str, give_up_s: float,
                stats: Counter[str]) -> None:
    rid = uuid.uuid4().hex
    end = time.monotonic() + give_up_s
    stats["attempted"] += 1
    while True:
        try:
            await client.call(verb, params, timeout=1.0, request_id=rid)
            stats["acknowledged"] += 1
            return
        except MemoryOutcomeUnknownError:
            stats["timeouts"] += 1
        except MemoryUnavailableError:  # no responder: not delivered, nothing applied
            await asyncio.sleep(0.2)
        if time.monotonic() > end:
            stats["unknown"] += 1
            return
        if mode == "new-id":
            rid = uuid.uuid4().hex


async def scenario(nats: NatsProc, base: Path, how: str, mode: str, n: int, duration_s: float,
                   give_up_s: float, seed: int) -> dict[str, Any]:
    d = DaemonProc(f"m-{how}-{mode}", base / f"{how}-{mode}", mem_env(nats)).start(timeout=120)
    async with Bus([nats.url], BusConfig(), name="chaos-writer") as bus:
        client = MemoryClient(bus, timeout=1.0)
        await wait_serving(client)
        await client.call("core.create", {"block": Block(label=BLOCK, value="", limit=100_000)}, timeout=30)
        disturb = Disturber(d, how, random.Random(seed), client)
        task = asyncio.create_task(disturb.run())
        lstats: Counter[str] = Counter()
        cstats: Counter[str] = Counter()
        t0 = time.monotonic()
        sem = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            await asyncio.sleep(i * duration_s / n)  # paced: the writes span the disturbances
            async with sem:
                await write(client, "learnings.add", {"entry": {"context": "chaos", "learning": f"L{i}."}},
                            mode, give_up_s, lstats)
                await write(client, "core.append", {"label": BLOCK, "text": f"c{i};"}, mode, give_up_s, cstats)

        await asyncio.gather(*(one(i) for i in range(n)))
        disturb.stop()
        await task
        elapsed = time.monotonic() - t0
        if d.proc is not None and d.proc.poll() is None:
            os.kill(d.proc.pid, signal.SIGCONT)
        await asyncio.sleep(2)  # writes delivered during a freeze land after it
        await wait_serving(client)
        learned = Counter(e["learning"] for e in await client.call("learnings.list", timeout=60))
        value = (await client.call("core.get", {"label": BLOCK}, timeout=30))["value"]
        appended = Counter(t for t in value.replace("\n", "").split(";") if t)
    d.stop()

    def tally(stats: Counter[str], seen: Counter[str], key: str) -> dict[str, int]:
        names = [key.format(i) for i in range(n)]
        return {
            "attempted": stats["attempted"], "acknowledged": stats["acknowledged"], "unknown": stats["unknown"],
            "client_timeouts": stats["timeouts"],
            "present": sum(1 for k in names if seen[k] > 0),
            "duplicated": sum(1 for k in names if seen[k] > 1),
            "lost": stats["acknowledged"] - sum(1 for k in names if seen[k] > 0),
        }

    return {"disturbances": disturb.events, "seconds": round(elapsed, 1),
            "learnings": tally(lstats, learned, "L{}."), "core_appends": tally(cstats, appended, "c{}")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="Smaller runs (for a smoke check).")
    ap.add_argument("--give-up-s", type=float, default=60.0, help="Stop retrying one write after this long.")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "chaos.json")
    args = ap.parse_args()
    n, duration = (40, 15.0) if args.quick else (200, 60.0)
    results: dict[str, Any] = {"host": platform.node(), "python": platform.python_version(),
                               "cpus": os.cpu_count(), "writes_per_kind": n, "write_span_s": duration,
                               "scenarios": {}}
    with tempfile.TemporaryDirectory(prefix="hydra-chaos-") as tmp:
        base = Path(tmp)
        nats = NatsProc("chaos", free_port(), base / "nats").start()
        try:
            for i, (how, mode) in enumerate([(h, m) for h in ("freeze", "kill9") for m in ("same-id", "new-id")]):
                res = asyncio.run(scenario(nats, base, how, mode, n, duration, args.give_up_s, seed=i))
                results["scenarios"][f"{how}/{mode}"] = res
                print(f"{how}/{mode}: {json.dumps(res)}", flush=True)
        finally:
            nats.stop()
    print(f"\n{'scenario':<18} {'kind':<13} {'attempted':>9} {'acked':>6} {'unknown':>7} {'present':>7} "
          f"{'dup':>4} {'lost':>4}")
    for name, res in results["scenarios"].items():
        for kind in ("learnings", "core_appends"):
            r = res[kind]
            print(f"{name:<18} {kind:<13} {r['attempted']:>9} {r['acknowledged']:>6} {r['unknown']:>7} "
                  f"{r['present']:>7} {r['duplicated']:>4} {r['lost']:>4}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
