"""Does the archival index optimisation stall the rest of the process?

The memory node runs ``store.optimize()`` (qdrant-edge ``EdgeShard.optimize()``: HNSW build, segment
merges) in a worker thread, so the event loop should keep serving meanwhile. This fills a fresh store
(hashing embedder, never optimised), then awaits the optimisation as the memory node's optimiser does
while a task on the same event loop sleeps 5 ms at a time, and counts how often it woke: a loop that
gets the GIL now and then wakes up to 200 times a second; one that never does, once. Prints and writes
bench/results/archival_optimize_stall.json.

    .venv/bin/python bench/archival_optimize_stall.py [--passages 30000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from memory.config import MemoryConfig  # noqa: E402
from memory.protocols import PassageIn  # noqa: E402
from memory.wiring import open_local  # noqa: E402


async def run(passages: int, state: Path) -> dict[str, Any]:
    cfg = MemoryConfig()
    cfg.embed.backend = "hashing"
    mem = await open_local(cfg, state)
    try:
        for start in range(0, passages, 1000):
            await mem.stack.archival.add([PassageIn(text=f"note {i} about the thing {i % 97} and {i % 13}")
                                          for i in range(start, min(passages, start + 1000))])
        ticks: list[float] = []

        async def ticker() -> None:  # what the daemon's event loop can still do meanwhile
            while True:
                t0 = time.perf_counter()
                await asyncio.sleep(0.005)
                ticks.append(time.perf_counter() - t0)

        load = os.getloadavg()
        tick = asyncio.create_task(ticker())
        await asyncio.sleep(0.05)
        ticks.clear()
        t0 = time.perf_counter()
        await mem.stack.archival.optimize()  # as the memory node's optimiser awaits it (a worker thread)
        took = time.perf_counter() - t0
        tick.cancel()
    finally:
        await mem.close()
    return {"bench": "archival_optimize_stall", "passages": passages, "optimize_s": round(took, 1),
            "event_loop_ticks_during_it": len(ticks), "ticks_if_not_stalled": int(took / 0.005),
            "longest_tick_s": round(max(ticks, default=took), 2), "load_average_at_start": load,
            "cpus": os.cpu_count()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=30_000)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "archival_optimize_stall.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = asyncio.run(run(args.passages, Path(tmp) / "state"))
    print(json.dumps(out, indent=2))
    args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
