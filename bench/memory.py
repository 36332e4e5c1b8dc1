"""Memory-store numbers (issue 4, "Numbers"): retrieval quality, archival scale, graph speed.

1. Retrieval on a LoCoMo-shaped conversation set (default: the SYNTHETIC seeded set from
   bench/locomo_synth.py; ``--dataset locomo10.json`` for the real one). Every turn is a passage;
   each question is searched with vector-only, BM25-only and hybrid (RRF) side by side.
   Evidence recall@k = share of a question's evidence turns found in the top k, averaged per
   category (unanswerable questions have no evidence and are counted, not scored). Knowledge
   update: share of questions where the current fact's turn ranks above the superseded one.
2. Archival at N passages (default 100k, embedded Qdrant): bulk ingest rate excluding embedding
   (vectors precomputed), ``add()`` rate with dedup checks, optimise time, search p50 per mode
   excluding query embedding (hashing embedder, ~0.03 ms), the MiniLM query-embedding p50, and search
   p50 end to end with a real MiniLM query embedding (QueryCostEmbedder).
3. Graph (embedded Ladybug): 10k relation upserts (batched), single upsert p50, 2-hop p50.

Prints a table and writes bench/results/memory.json. Medians throughout.
Run: .venv/bin/python bench/memory.py [--passages 100000] [--embedder minilm|hashing]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.locomo_synth import CITIES, COMPANIES, NAMES, UPDATES, generate, turns_of
from memory.archival import ArchivalConfig, open_archival
from memory.embed import HashingEmbedder, MiniLMEmbedder, minilm_available
from memory.graph import GraphConfig, open_graph
from memory.protocols import Embedder, Passage, PassageIn, RelationIn

MODES = ("vector", "bm25", "hybrid")


def p50(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


# ------------------------------------------------------------------------------- 1. retrieval


class CachedEmbedder:
    """Wraps an embedder so each configuration of the retrieval run does not re-embed the same turns."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.cache: dict[str, list[float]] = {}

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def dim(self) -> int:
        return self.inner.dim

    async def embed(self, texts: list[str]) -> list[list[float]]:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            self.cache.update(zip(todo, await self.inner.embed(todo), strict=True))
        return [self.cache[t] for t in texts]

    async def close(self) -> None:
        pass


async def retrieval(
    sample: dict[str, Any], embedder: Embedder, root: Path, recency: float, update_cosine: float,
    recency_current: float,
) -> dict[str, Any]:
    cfg = ArchivalConfig(
        path=root / f"conv-{embedder.model.replace('/', '_')}-{recency}-{update_cosine}-{recency_current}",
        recency_weight=recency,
        recency_weight_current=recency_current,
        update_cosine=update_cosine,
    )
    store = await open_archival(cfg, embedder, root)
    turns = turns_of(sample)
    t0 = time.perf_counter()
    res = await store.add(
        [
            PassageIn(id=dia, text=f"{spk}: {text}", created_at=when, session=dia.split(":")[0])
            for dia, spk, text, when in turns
        ]
    )
    ingest_s = time.perf_counter() - t0
    alias = {dia: r.id if r.status == "duplicate" else dia for (dia, *_), r in zip(turns, res, strict=True)}
    per: dict[str, dict[str, dict[str, list[float]]]] = {}
    ku: dict[str, list[bool]] = {m: [] for m in MODES}
    counts: dict[str, int] = {}
    for q in sample["qa"]:
        cat = str(q["category"])
        counts[cat] = counts.get(cat, 0) + 1
        ev = {alias.get(e, e) for e in q.get("evidence", [])}
        for mode in MODES:
            hits = await store.search(q["question"], limit=10, mode=mode)
            ids = [h.passage.id for h in hits]
            if ev:
                for k in (5, 10):
                    got = len(ev & set(ids[:k])) / len(ev)
                    per.setdefault(cat, {}).setdefault(mode, {}).setdefault(f"@{k}", []).append(got)
            if q.get("superseded"):
                cur = min((ids.index(e) for e in ev if e in ids), default=99)
                old = min((ids.index(alias.get(e, e)) for e in q["superseded"] if alias.get(e, e) in ids), default=99)
                ku[mode].append(cur < old)
    await store.close()
    table: dict[str, Any] = {}
    for cat, modes in per.items():
        table[cat] = {m: {k: round(statistics.fmean(v), 3) for k, v in ks.items()} for m, ks in modes.items()}
    overall = {}
    for mode in MODES:
        vals = {k: [x for modes in per.values() for x in modes[mode][k]] for k in ("@5", "@10")}
        overall[mode] = {k: round(statistics.fmean(v), 3) for k, v in vals.items()}
    table["overall"] = overall
    return {
        "embedder": embedder.model,
        "recency_weight": recency,
        "recency_weight_current": recency_current,
        "update_cosine": update_cosine,
        "turns": len(turns),
        "questions": counts,
        "ingest_s": round(ingest_s, 2),
        "recall": table,
        "knowledge_update_current_above_superseded": {m: round(statistics.fmean(v), 3) for m, v in ku.items() if v},
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
    the same texts: a search through it costs a real MiniLM query embedding plus the search."""

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


async def archival_scale(n: int, root: Path, queries: int, minilm: MiniLMEmbedder | None) -> dict[str, Any]:
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
    extra = synth_passages(5000, seed=12)
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
    if minilm is not None:
        await minilm.embed(["warm up"])
        for q in qs[:100]:
            t = time.perf_counter()
            await minilm.embed([q])
            mini.append((time.perf_counter() - t) * 1000)
    e2e: dict[str, list[float]] = {m: [] for m in MODES}
    if minilm is not None:
        # end to end with the real query-embedding cost: search() calls MiniLM on the query, then
        # searches with the hashing vector (the stored vectors are hashing ones, so the index sees
        # the distribution it was built from)
        await store.close()
        store = await open_archival(
            ArchivalConfig(path=root / "scale", batch_size=1000), QueryCostEmbedder(emb, minilm), root
        )
        for q in qs[:100]:
            for mode in MODES:
                t = time.perf_counter()
                await store.search(q, limit=10, mode=mode)
                e2e[mode].append((time.perf_counter() - t) * 1000)
    count = await store.count()
    await store.close()
    out = {
        "passages": count,
        "embed_hashing_s": round(embed_s, 2),
        "ingest_bulk_passages_per_s_excl_embedding": round(n / ingest_s),
        "add_passages_per_s_with_dedup_and_hashing_embedding": round(5000 / add_s),
        "optimize_s": round(optimize_s, 2),
        "search_p50_ms_excl_embedding": {m: round(p50(v) - p50(qembed), 2) for m, v in lat.items()},
        "search_p50_ms_incl_hashing_embedding": {m: round(p50(v), 2) for m, v in lat.items()},
        "query_embed_p50_ms": {"hashing": round(p50(qembed), 3)},
    }
    if mini:
        out["query_embed_p50_ms"]["minilm"] = round(p50(mini), 2)
        out["search_p50_ms_incl_minilm_embedding"] = {m: round(p50(v), 2) for m, v in e2e.items()}
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
        print(f"\nRetrieval recall (embedder {r['embedder']}, recency_weight {r['recency_weight']} "
              f"(current-intent queries {r['recency_weight_current']}), "
              f"update_cosine {r['update_cosine']}, "
              f"{r['turns']} turns, questions {r['questions']})")
        print(f"{'category':<18}" + "".join(f"{m + ' @5':>12}{m + ' @10':>13}" for m in MODES))
        for cat, modes in r["recall"].items():
            print(f"{cat:<18}" + "".join(f"{modes[m]['@5']:>12.3f}{modes[m]['@10']:>13.3f}" for m in MODES))
        print("knowledge-update current above superseded:", r["knowledge_update_current_above_superseded"])
    if "archival" in res:
        print("\nArchival scale:", json.dumps(res["archival"], indent=1))
        print("\nGraph:", json.dumps(res["graph"], indent=1))


async def amain(args: argparse.Namespace, sample: dict[str, Any]) -> dict[str, Any]:
    minilm = MiniLMEmbedder() if minilm_available() is None and args.embedder == "minilm" else None
    embedders: list[Embedder] = [HashingEmbedder(384)]
    if minilm is not None:
        embedders.insert(0, minilm)
    out: dict[str, Any] = {
        "dataset": args.dataset or f"synthetic LoCoMo-shaped, seed {args.seed} (bench/locomo_synth.py)",
        "synthetic_note": "template-generated turns from small pools; figures compare methods, they are not "
        "LoCoMo scores",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "retrieval": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for emb in embedders:
            cached = CachedEmbedder(emb)
            # update_cosine 1.0: knowledge-update ordering nearly off (fusion alone, the "before" figures);
            # then update ordering; then a flat recency prior; then the default: the prior raised for
            # queries that ask about the present (memory.archival.intent)
            for recency, update, current in [
                (0.0, 1.0, 0.0),
                (0.0, args.update_cosine, 0.0),
                (args.recency, args.update_cosine, args.recency),
                (args.recency, args.update_cosine, args.recency_current),
            ]:
                out["retrieval"].append(await retrieval(sample, cached, root, recency, update, current))
                print(f"retrieval done: {emb.model} recency {recency} (current {current}) update_cosine {update}",
                      flush=True)
        if args.skip_scale:
            return out
        out["archival"] = await archival_scale(args.passages, root, args.queries, minilm)
        print("archival done", flush=True)
        out["graph"] = await graph_bench(root, args.relations, args.queries)
    if minilm is not None:
        await minilm.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="memory store benchmarks")
    ap.add_argument("--dataset", default=None, help="LoCoMo-format JSON (list of samples); default: synthetic")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--embedder", choices=["minilm", "hashing"], default="minilm")
    ap.add_argument("--recency", type=float, default=0.5, help="also run hybrid with this recency weight")
    ap.add_argument("--recency-current", type=float, default=ArchivalConfig().recency_weight_current,
                    help="recency weight for queries that ask about the present (the default run)")
    ap.add_argument("--update-cosine", type=float, default=ArchivalConfig().update_cosine,
                    help="knowledge-update similarity for the hybrid runs (1.0 is also run, as 'off')")
    ap.add_argument("--skip-scale", action="store_true", help="retrieval quality only (no 100k / graph runs)")
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--relations", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "memory.json"))
    args = ap.parse_args()
    sample = json.loads(Path(args.dataset).read_text())[0] if args.dataset else generate(args.seed)
    res = asyncio.run(amain(args, sample))
    print_tables(res)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
