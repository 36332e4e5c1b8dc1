"""Memory-store numbers (issue 4, "Numbers"): retrieval quality, archival scale, graph speed.

1. Retrieval on three conversation sets side by side: the hand-written realtalk sets
   (bench/data/, Mara = tuning, Jonas = frozen held-out) and the SYNTHETIC seeded LoCoMo-shaped set
   from bench/locomo_synth.py (``--dataset locomo10.json`` replaces it with the real one). Every turn
   is a passage; each question is searched with vector-only, BM25-only and hybrid side by side.
   Evidence recall@k = share of a question's evidence turns found in the top k, averaged per
   category (unanswerable questions have no evidence and are counted, not scored). Knowledge
   update: share of questions where the current fact's turn ranks above the superseded one.
2. Archival at N passages (default 100k, embedded Qdrant): bulk ingest rate excluding embedding
   (vectors precomputed), ``add()`` rate with dedup checks, optimise time, search p50 per mode
   excluding query embedding (hashing embedder, ~0.03 ms), the model's query-embedding p50 (the
   default ONNX MiniLM, or the torch one with ``--embedder minilm``), and search p50 end to end with
   that real query embedding (QueryCostEmbedder).
3. Graph (embedded Ladybug): 10k relation upserts (batched), single upsert p50, 2-hop p50.

Prints a table and writes bench/results/memory.json. Medians throughout.
Run: .venv/bin/python bench/memory.py [--skip-scale] [--sweep] [--passages 100000] [--embedder onnx|minilm|hashing]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.locomo_synth import CITIES, COMPANIES, NAMES, UPDATES, generate
from bench.realtalk import REALTALK, Dataset, from_locomo, load_realtalk
from memory.archival import ArchivalConfig, open_archival
from memory.embed import HashingEmbedder, MiniLMEmbedder, OnnxEmbedder, minilm_available, onnx_available
from memory.embed.recent import RecentEmbeddings
from memory.graph import GraphConfig, open_graph
from memory.protocols import Embedder, Passage, PassageIn, RelationIn, Role, SearchMode

MODES: tuple[SearchMode, ...] = ("vector", "bm25", "hybrid")


def p50(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


# ------------------------------------------------------------------------------- 1. retrieval


def cached(inner: Embedder) -> RecentEmbeddings:
    """``inner`` behind the daemon's own embedding cache, sized to hold every turn of a run, so each
    configuration of the retrieval run does not re-embed the same turns."""
    return RecentEmbeddings(inner, size=1_000_000)

    async def close(self) -> None:
        pass


async def retrieval(ds: Dataset, embedder: Embedder, root: Path, cfg: ArchivalConfig) -> dict[str, Any]:
    """Every turn a passage; every question searched in each mode; evidence recall per category."""
    tag = "-".join(f"{k}{v}" for k, v in sorted(cfg.model_dump(exclude_defaults=True).items()))
    cfg = cfg.model_copy(update={"path": root / f"conv-{abs(hash((ds.name, embedder.model, tag)))}"})
    store = await open_archival(cfg, embedder, root)
    t0 = time.perf_counter()
    res = await store.add(
        [PassageIn(id=t.id, text=t.text, created_at=t.at, session=t.session, role=Role(t.role)) for t in ds.turns]
    )
    ingest_s = time.perf_counter() - t0
    alias = {t.id: r.id if r.status == "duplicate" else t.id for t, r in zip(ds.turns, res, strict=True)}
    per: dict[str, dict[str, dict[str, list[float]]]] = {}
    ku: dict[str, list[bool]] = {m: [] for m in MODES}
    lat: dict[str, list[float]] = {m: [] for m in MODES}
    misses: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    await embedder.embed([q.question for q in ds.questions])  # cached: latencies below exclude the embedding
    for q in ds.questions:
        counts[q.category] = counts.get(q.category, 0) + 1
        ev = {alias.get(e, e) for e in q.evidence}
        for mode in MODES:
            t = time.perf_counter()
            hits = await store.search(q.question, limit=10, mode=mode, asked_at=ds.asked_at)
            lat[mode].append((time.perf_counter() - t) * 1000)
            ids = [h.passage.id for h in hits]
            if ev:
                for k in (5, 10):
                    got = len(ev & set(ids[:k])) / len(ev)
                    per.setdefault(q.category, {}).setdefault(mode, {}).setdefault(f"@{k}", []).append(got)
                if mode == "hybrid" and not ev <= set(ids[:10]):
                    misses.append({"id": q.id, "missing": sorted(ev - set(ids[:10])), "top5": ids[:5]})
            if q.superseded:
                cur = min((ids.index(e) for e in ev if e in ids), default=99)
                old = min((ids.index(alias.get(e, e)) for e in q.superseded if alias.get(e, e) in ids), default=99)
                ku[mode].append(cur < old)
    await store.close()
    table: dict[str, Any] = {}
    for cat, modes in sorted(per.items()):
        table[cat] = {m: {k: round(statistics.fmean(v), 3) for k, v in ks.items()} for m, ks in modes.items()}
    overall = {}
    for mode in MODES:
        vals = {k: [x for modes in per.values() for x in modes[mode][k]] for k in ("@5", "@10")}
        overall[mode] = {k: round(statistics.fmean(v), 3) for k, v in vals.items()}
    table["overall"] = overall
    return {
        "dataset": ds.name,
        "embedder": embedder.model,
        "config": cfg.model_dump(mode="json", exclude_defaults=True, exclude={"path"}),
        "turns": len(ds.turns),
        "questions": counts,
        "ingest_s": round(ingest_s, 2),
        "recall": table,
        "knowledge_update_current_above_superseded": {m: round(statistics.fmean(v), 3) for m, v in ku.items() if v},
        "search_p50_ms_query_embedding_cached": {m: round(p50(v), 2) for m, v in lat.items()},
        "hybrid_misses_at_10": misses,
    }


# ------------------------------------------------------------------------------- 2. archival scale


def synth_passages(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    things = [t for t, _ in UPDATES]
    templates = [
        "{a} told me {b} moved to {c} after joining {d}.",
        "Note {i}: the {t} on node {j} was replaced, see ticket {i}.",
        "Research {i}: {d} announced a new office in {c} with {j} staff.",
        "{a} asked about the {t}; I suggested checking with {b} in {c}.",
        "Pipeline run {i} generated {j} assets for the scene set in {c}.",
        "Meeting {i} with {a} and {b} about {d} budget, follow up in {j} days.",
    ]
    out = []
    for i in range(n):
        out.append(
            rng.choice(templates).format(
                a=rng.choice(NAMES), b=rng.choice(NAMES), c=rng.choice(CITIES), d=rng.choice(COMPANIES),
                t=rng.choice(things), i=i, j=rng.randint(1, 500),
            )
        )
    return out


class QueryCostEmbedder:
    """Embeds with ``stored`` (the store's model, so its guard passes) after paying for ``real`` on
    the same texts: a search through it costs a real model query embedding plus the search."""

    def __init__(self, stored: Embedder, real: Embedder) -> None:
        self.stored, self.real = stored, real

    @property
    def model(self) -> str:
        return self.stored.model

    @property
    def dim(self) -> int:
        return self.stored.dim

    async def embed(self, texts: list[str]) -> list[list[float]]:
        await self.real.embed(texts)
        return await self.stored.embed(texts)

    async def close(self) -> None:
        pass


async def archival_scale(
    n: int, root: Path, queries: int, model: Embedder | None, adds: int = 5000
) -> dict[str, Any]:
    load_before = os.getloadavg()
    emb = HashingEmbedder(384)  # same size as MiniLM's vectors
    texts = synth_passages(n, seed=11)
    t0 = time.perf_counter()
    vecs = await emb.embed(texts)
    embed_s = time.perf_counter() - t0
    base = datetime(2024, 1, 1, tzinfo=UTC)
    passages = [
        Passage(id=f"p{i}", text=t, source="bench", tags=[f"t{i % 10}"], session=f"s{i // 500}",
                created_at=base + timedelta(minutes=i), embedding_model=emb.model, vector=v)
        for i, (t, v) in enumerate(zip(texts, vecs, strict=True))
    ]
    store = await open_archival(ArchivalConfig(path=root / "scale", batch_size=1000), emb, root)
    t0 = time.perf_counter()
    for i in range(0, n, 1000):
        await store.import_passages(passages[i : i + 1000])
    ingest_s = time.perf_counter() - t0
    extra = synth_passages(adds, seed=12)
    t0 = time.perf_counter()
    await store.add([PassageIn(text=f"extra {i}: {t}") for i, t in enumerate(extra)])
    add_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    await store.optimize()
    optimize_s = time.perf_counter() - t0
    qs = synth_passages(queries, seed=13)
    lat: dict[str, list[float]] = {m: [] for m in MODES}
    for q in qs:
        for mode in MODES:
            t = time.perf_counter()
            await store.search(q, limit=10, mode=mode)
            lat[mode].append((time.perf_counter() - t) * 1000)
    qembed = []
    for q in qs[:100]:
        t = time.perf_counter()
        await emb.embed([q])
        qembed.append((time.perf_counter() - t) * 1000)
    mini = []
    if model is not None:
        await model.embed(["warm up"])
        for q in qs[:100]:
            t = time.perf_counter()
            await model.embed([q])
            mini.append((time.perf_counter() - t) * 1000)
    e2e: dict[str, list[float]] = {m: [] for m in MODES}
    if model is not None:
        # end to end with the real query-embedding cost: search() calls the model on the query, then
        # searches with the hashing vector (the stored vectors are hashing ones, so the index sees
        # the distribution it was built from)
        await store.close()
        store = await open_archival(
            ArchivalConfig(path=root / "scale", batch_size=1000), QueryCostEmbedder(emb, model), root
        )
        for q in qs[:100]:
            for mode in MODES:
                t = time.perf_counter()
                await store.search(q, limit=10, mode=mode)
                e2e[mode].append((time.perf_counter() - t) * 1000)
    count = await store.count()
    await store.close()
    out: dict[str, Any] = {
        "passages": count,
        "embed_hashing_s": round(embed_s, 2),
        "ingest_bulk_passages_per_s_excl_embedding": round(n / ingest_s),
        "add_passages_per_s_with_dedup_and_hashing_embedding": round(adds / add_s),
        # what else loaded the CPU: the 1/5/15-minute load averages when the part started and ended
        "load_average_start_end": [list(load_before), list(os.getloadavg())],
        "cpus": os.cpu_count(),
        "optimize_s": round(optimize_s, 2),
        "search_p50_ms_excl_embedding": {m: round(p50(v) - p50(qembed), 2) for m, v in lat.items()},
        "search_p50_ms_incl_hashing_embedding": {m: round(p50(v), 2) for m, v in lat.items()},
        "query_embed_p50_ms": {"hashing": round(p50(qembed), 3)},
    }
    if model is not None:
        out["query_embed_p50_ms"][model.model] = round(p50(mini), 2)
        out["search_p50_ms_incl_model_embedding"] = {
            "embedder": model.model, **{m: round(p50(v), 2) for m, v in e2e.items()}
        }
    return out


# ------------------------------------------------------------------------------- 3. graph


async def graph_bench(root: Path, relations: int, queries: int) -> dict[str, Any]:
    rng = random.Random(5)
    g = await open_graph(GraphConfig(path=root / "graph.lbug"), root)
    ents = [f"entity-{i}" for i in range(2000)]
    base = datetime(2024, 1, 1, tzinfo=UTC)
    types = ["knows", "works_on", "uses", "mentions", "status"]  # status is single-valued
    rels = [
        RelationIn(subject=rng.choice(ents), type=rng.choice(types), object=rng.choice(ents),
                   valid_from=base + timedelta(minutes=i), single_valued=None)
        for i in range(relations)
    ]
    t0 = time.perf_counter()
    for i in range(0, relations, 1000):
        await g.upsert_relations(rels[i : i + 1000])
    batched_s = time.perf_counter() - t0
    single = []
    for i in range(200):
        r = RelationIn(subject=rng.choice(ents), type="knows", object=f"new-{i}", valid_from=base)
        t = time.perf_counter()
        await g.upsert_relation(r)
        single.append((time.perf_counter() - t) * 1000)
    hop2, facts = [], []
    used = sorted({r.subject for r in rels})
    for _ in range(queries):
        e = rng.choice(used)
        t = time.perf_counter()
        await g.neighbours(e, depth=2)
        hop2.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        await g.facts_about(e, at=base + timedelta(days=3))
        facts.append((time.perf_counter() - t) * 1000)
    counts = await g.counts()
    await g.close()
    return {
        "counts": counts,
        "upserts": relations,
        "upsert_batched_total_s": round(batched_s, 2),
        "upsert_single_p50_ms": round(p50(single), 2),
        "neighbours_depth2_p50_ms": round(p50(hop2), 2),
        "facts_about_at_p50_ms": round(p50(facts), 2),
    }


# ------------------------------------------------------------------------------- main


def print_tables(res: dict[str, Any]) -> None:
    for r in res["retrieval"]:
        print(f"\n{r['dataset']} — embedder {r['embedder']}, config {r['config'] or 'default'}, "
              f"{r['turns']} turns, questions {r['questions']}")
        print(f"{'category':<18}" + "".join(f"{m + ' @5':>12}{m + ' @10':>13}" for m in MODES))
        for cat, modes in r["recall"].items():
            print(f"{cat:<18}" + "".join(f"{modes[m]['@5']:>12.3f}{modes[m]['@10']:>13.3f}" for m in MODES))
        print("knowledge-update current above superseded:", r["knowledge_update_current_above_superseded"])
        print("search p50 ms (query embeddings cached):", r["search_p50_ms_query_embedding_cached"])
    if "archival" in res:
        print("\nArchival scale:", json.dumps(res["archival"], indent=1))
        print("\nGraph:", json.dumps(res["graph"], indent=1))


def datasets(args: argparse.Namespace) -> list[Dataset]:
    """The hand-written sets (tuning, then the two frozen held-out ones) and the synthetic or given set."""
    out = [load_realtalk(path) for path in REALTALK.values()]
    if args.dataset:
        out.append(from_locomo(json.loads(Path(args.dataset).read_text())[0], args.dataset))
    else:
        out.append(from_locomo(generate(args.seed), f"synthetic LoCoMo-shaped, seed {args.seed}"))
    return out


def configs(args: argparse.Namespace) -> list[ArchivalConfig]:
    """The default config; with ``--sweep`` also the older variants (fusion only, update ordering,
    a flat recency prior) for comparison."""
    out = [ArchivalConfig()]
    if args.sweep:
        out += [
            ArchivalConfig(recency_weight=0.0, recency_weight_current=0.0, update_cosine=1.0),
            ArchivalConfig(recency_weight=0.0, recency_weight_current=0.0),
            ArchivalConfig(recency_weight_current=ArchivalConfig().recency_weight),
        ]
    return out


def model_embedder(name: str) -> Embedder | None:
    """The model embedder the rows run with beside hashing; None (with a note) when not installed."""
    why = onnx_available() if name == "onnx" else minilm_available() if name == "minilm" else None
    if why is not None:
        print(f"{name} embedder not available ({why}); hashing rows only", file=sys.stderr)
        return None
    if name == "onnx":
        return OnnxEmbedder()
    return MiniLMEmbedder() if name == "minilm" else None


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    model = model_embedder(args.embedder)
    embedders: list[Embedder] = [HashingEmbedder(384)]
    if model is not None:
        embedders.insert(0, model)
    sets = datasets(args)
    out: dict[str, Any] = {
        "datasets": [{"name": d.name, **d.meta} for d in sets],
        "synthetic_note": "the synthetic set is template-generated from small pools; its figures compare methods "
        "and catch regressions, they are not LoCoMo scores. The realtalk sets are hand-written "
        "(bench/data/README.md); realtalk-jonas and realtalk-ines are the frozen held-out parts.",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "retrieval": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for emb in embedders if not args.skip_retrieval else []:
            reusing = cached(emb)
            for ds in sets:
                for cfg in configs(args):
                    out["retrieval"].append(await retrieval(ds, reusing, root, cfg))
                    print(f"retrieval done: {ds.name} {emb.model} {cfg.model_dump(exclude_defaults=True)}",
                          flush=True)
        if args.skip_scale:
            return out
        out["archival"] = await archival_scale(args.passages, root, args.queries, model, args.adds)
        print("archival done", flush=True)
        out["graph"] = await graph_bench(root, args.relations, args.queries)
    if model is not None:
        await model.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="memory store benchmarks")
    ap.add_argument("--dataset", default=None,
                    help="LoCoMo-format JSON (list of samples) instead of the synthetic set; the hand-written "
                    "realtalk sets always run")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--embedder", choices=["onnx", "minilm", "hashing"], default="onnx",
                    help="the model run beside the hashing rows: onnx (the default embedder, base install), "
                    "minilm (torch, the embed-local extra) or hashing alone")
    ap.add_argument("--sweep", action="store_true", help="also run older hybrid variants (fusion only, ...)")
    ap.add_argument("--skip-scale", action="store_true", help="retrieval quality only (no 100k / graph runs)")
    ap.add_argument("--skip-retrieval", action="store_true", help="scale and graph runs only")
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--adds", type=int, default=5000, help="passages added one batch through add() (dedup checks)")
    ap.add_argument("--relations", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "memory.json"))
    args = ap.parse_args()
    res = asyncio.run(amain(args))
    print_tables(res)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
