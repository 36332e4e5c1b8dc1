"""What each stage of hybrid search costs at scale, side by side in one run.

Builds an embedded store of N synthetic passages (hashing vectors, as bench/memory.py's scale part),
then runs each query once untimed (cold pages) and once per variant in turn (interleaved, so a
change in the machine's load hits every variant alike): the default config; the coverage
yardstick uncached (the term cache cleared before each query); no second hop; no coverage;
neither. Query embedding is not included (the hashing embedder costs ~0.06 ms; bench/memory.py
measures the ONNX query embedding). Medians.

Run: nice -n 10 .venv/bin/python bench/hybrid_cost.py [--passages 100000] [--queries 150]
Writes bench/results/hybrid-cost.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.memory import synth_passages
from memory.archival import ArchivalConfig, open_archival
from memory.embed import HashingEmbedder
from memory.protocols import Passage

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "default, yardstick uncached": {},
    "no second hop": {"hop_weight": 0.0},
    "no coverage": {"bm25_coverage": False},
    "neither": {"hop_weight": 0.0, "bm25_coverage": False},
}


async def run(n: int, queries: int, root: Path) -> dict[str, Any]:
    emb = HashingEmbedder(384)
    texts = synth_passages(n, seed=11)
    vecs = await emb.embed(texts)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    passages = [
        Passage(id=f"p{i}", text=t, source="bench", session=f"s{i // 500}", created_at=base + timedelta(minutes=i),
                embedding_model=emb.model, vector=v)
        for i, (t, v) in enumerate(zip(texts, vecs, strict=True))
    ]
    cfg = ArchivalConfig(path=root / "a", batch_size=1000)
    store = await open_archival(cfg, emb, root)
    for i in range(0, n, 1000):
        await store.import_passages(passages[i : i + 1000])
    await store.optimize()
    load_before = os.getloadavg()
    lat: dict[str, list[float]] = {k: [] for k in VARIANTS}
    for q in synth_passages(queries, seed=13):
        # untimed first: the first search of a query pays for cold pages of its terms' postings,
        # which would otherwise be charged to whichever variant runs first
        store._cfg = cfg
        await store.search(q, limit=10)
        for name, over in VARIANTS.items():
            # one store, its config swapped per variant: the same shard and caches serve every variant
            store._cfg = cfg.model_copy(update=over)
            if name == "default, yardstick uncached":
                store._term_best.clear()
            t = time.perf_counter()
            await store.search(q, limit=10)
            lat[name].append((time.perf_counter() - t) * 1000)
    await store.close()
    return {
        "passages": n,
        "queries": queries,
        "hybrid_p50_ms_excl_embedding": {k: round(statistics.median(v), 2) for k, v in lat.items()},
        "load_average_start_end": [list(load_before), list(os.getloadavg())],
        "cpus": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description="hybrid search cost per stage")
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=150)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "hybrid-cost.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        res = asyncio.run(run(args.passages, args.queries, Path(tmp)))
    print(json.dumps(res, indent=1))
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
