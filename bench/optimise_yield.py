"""How long an owner's search waits while the embedded store optimises its index.

The embedded engine (qdrant-edge) optimises in a child process on the closed shard. Before, a search
arriving meanwhile waited for the rest of that run; now it ends the run and goes on against the reopened
shard. Side by side, per run on a fresh store of N unoptimised passages (random 384-dim vectors):
  - ``search_idle_ms``: a dense search with no optimisation running (unindexed: brute force);
  - ``search_during_ms``: the same search issued 1 s into an optimisation (ending the child, reopening);
  - ``optimise_s``: an uninterrupted optimisation of the same store: what the old code made a search
    wait (less the 1 s already spent), and what the daemon's optimiser now runs once the store is quiet.
Medians over ``--runs``. Shares the 2-core machine with whatever else runs (other agents' tests).

Run: .venv/bin/python bench/optimise_yield.py [--passages 20000] [--runs 3]
Writes bench/results/optimise_yield.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from memory.archival.edge import EdgeEngine  # noqa: E402
from memory.archival.engine import PointData, StoreMeta  # noqa: E402

DIM = 384
OUT = Path(__file__).resolve().parent / "results" / "optimise_yield.json"


def _filled(root: Path, n: int) -> EdgeEngine:
    engine = EdgeEngine(root)
    engine.create(StoreMeta("bench-model", DIM, 1))
    rnd = random.Random(7)
    for i in range(0, n, 500):
        engine.upsert([PointData(str(uuid.uuid4()), [rnd.random() for _ in range(DIM)], ([1, 2], [0.5, 0.5]),
                                 {"pid": f"p{j}", "dup": "canonical"}) for j in range(i, min(i + 500, n))])
    return engine


def _search_ms(engine: EdgeEngine, vec: list[float]) -> float:
    started = time.perf_counter()
    engine.query("dense", [vec], 10, None, True, ["pid"])
    return (time.perf_counter() - started) * 1000


def one_run(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = _filled(Path(tmp) / "store", n)
        vec = [random.random() for _ in range(DIM)]
        idle = _search_ms(engine, vec)
        th = threading.Thread(target=engine.optimize, daemon=True)
        th.start()
        time.sleep(1.0)
        during = _search_ms(engine, vec)
        th.join()
        started = time.perf_counter()
        engine.optimize()
        full = time.perf_counter() - started
        engine.close()
    return {"search_idle_ms": idle, "search_during_ms": during, "optimise_s": full}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--passages", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    runs = [one_run(args.passages) for _ in range(args.runs)]
    result = {
        "passages": args.passages,
        "runs": runs,
        "median": {k: statistics.median(r[k] for r in runs) for k in runs[0]},
        "cpus": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
    }
    print(json.dumps(result, indent=2))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
