"""Fusion weights learned on the tuning set, with cross-validation: does a fitted weighting generalise?

Hybrid search fuses several rankings by weighted reciprocal rank (vector 1.0, BM25 ``bm25_weight``,
the second hop ``hop_weight``, the question's time windows ``time_weight``, the recency prior for
questions about the present ``recency_weight_current``; an echo's own score ``echo_weight``). The
defaults were set by hand on ``realtalk_mara.json``. This script fits them instead: a grid over those
weights, every configuration scored per question on the tuning set only, then k-fold
cross-validation (choose the best configuration on k-1 folds, score it on the fold left out) against
the hand-set defaults scored on the same folds. A fitted weighting is worth keeping only if its
cross-validated score beats the defaults' (5- and 10-fold) and, the guard, no category of the
synthetic set falls below the defaults' with it (``adopt``); the held-out sets (jonas, ines) are
never read here.

Per question score: the mean of evidence recall @5 and @10, and for knowledge-update questions also
whether the current turn ranks above the superseded one (the three averaged).

    nice -n 10 .venv/bin/python bench/fusion_fit.py --fusion rrf|convex   # bench/results/fusion-fit-<fusion>.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.locomo_synth import generate
from bench.memory import cached, retrieval
from bench.realtalk import REALTALK, Dataset, from_locomo, load_realtalk
from memory.archival import ArchivalConfig, open_archival
from memory.embed import OnnxEmbedder
from memory.protocols import PassageIn, Role

GRIDS: dict[str, dict[str, list[float]]] = {"rrf": {
    "bm25_weight": [0.25, 0.5, 1.0],
    "hop_weight": [0.0, 0.25, 0.5, 1.0],
    "time_weight": [1.0, 2.0, 3.0],
    "recency_weight_current": [0.5, 1.0, 2.0],
    "echo_weight": [0.1, 0.3, 0.6],
}, "convex": {  # scores divided by their best: the weights live on another scale than RRF's
    "bm25_weight": [0.05, 0.1, 0.25, 0.5],
    "hop_weight": [0.0, 0.25, 0.5],
    "time_weight": [0.5, 1.0, 2.0],
    "recency_weight_current": [0.25, 0.5, 1.0, 2.0],
    "echo_weight": [0.3],
}}


def question_score(ids: list[str], ev: set[str], superseded: set[str]) -> float:
    parts = [len(ev & set(ids[:k])) / len(ev) for k in (5, 10)]
    if superseded:
        cur = min((ids.index(e) for e in ev if e in ids), default=99)
        old = min((ids.index(e) for e in superseded if e in ids), default=99)
        parts.append(float(cur < old))
    return statistics.fmean(parts)


async def score_grid(ds: Dataset, root: Path, base: ArchivalConfig, grid: dict[str, list[float]]
                     ) -> tuple[list[dict[str, float]], list[list[float]]]:
    """Every grid configuration's per-question scores on ``ds`` (one store, search-time weights swapped)."""
    embedder = cached(OnnxEmbedder())
    store = await open_archival(base, embedder, root)
    await store.add([PassageIn(id=t.id, text=t.text, created_at=t.at, session=t.session, role=Role(t.role))
                     for t in ds.turns])
    qs = [q for q in ds.questions if q.evidence]
    await embedder.embed([q.question for q in qs])
    configs = [dict(zip(grid, vals, strict=True)) for vals in itertools.product(*grid.values())]
    scores: list[list[float]] = []
    for n, cfg in enumerate(configs):
        store._cfg = base.model_copy(update=cfg)  # only search-time weights change: no re-ingest needed
        row = []
        for q in qs:
            hits = await store.search(q.question, limit=10, mode="hybrid", asked_at=ds.asked_at)
            row.append(question_score([h.passage.id for h in hits], set(q.evidence), set(q.superseded)))
        scores.append(row)
        if n % 20 == 0:
            print(f"{n}/{len(configs)}", flush=True)
    await store.close()
    return configs, scores


def changes(cfg: dict[str, float]) -> int:
    """How many weights differ from the shipped defaults: ties between configurations go to the fewest."""
    d = ArchivalConfig()
    return sum(v != getattr(d, k) for k, v in cfg.items())


def cross_validate(configs: list[dict[str, float]], scores: list[list[float]], default: int, folds: int,
                   seed: int, grid_size: int) -> dict[str, Any]:
    """k-fold CV of 'pick the best of the grid's configurations on the other folds' against the defaults."""
    idx = list(range(len(scores[0])))
    random.Random(seed).shuffle(idx)
    parts = [idx[f::folds] for f in range(folds)]
    fitted, dflt, chosen = [], [], []
    for test in parts:
        train = [i for i in idx if i not in test]
        best = max(range(grid_size),
                   key=lambda c: (statistics.fmean(scores[c][i] for i in train), -changes(configs[c])))
        chosen.append(configs[best])
        fitted += [scores[best][i] for i in test]
        dflt += [scores[default][i] for i in test]
    return {"folds": folds, "cv_score_fitted": round(statistics.fmean(fitted), 4),
            "cv_score_defaults": round(statistics.fmean(dflt), 4), "chosen_per_fold": chosen}


async def synthetic_guard(fusion: str, defaults: dict[str, float], best: dict[str, float], seed: int
                          ) -> dict[str, Any]:
    """Hybrid recall per category of the synthetic set with the defaults and with the best fitted weights."""
    ds = from_locomo(generate(seed), f"synthetic LoCoMo-shaped, seed {seed}")
    emb = cached(OnnxEmbedder())
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in (("defaults", ArchivalConfig(**defaults)), ("fitted", ArchivalConfig(fusion=fusion, **best))):
            r = await retrieval(ds, emb, Path(tmp), cfg)
            out[name] = {c: v["hybrid"] for c, v in r["recall"].items()}
    out["no_category_worse"] = all(
        out["fitted"][c][k] >= out["defaults"][c][k] for c in out["defaults"] for k in ("@5", "@10"))
    return out


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    ds = load_realtalk(REALTALK["tuning"])
    grid = GRIDS[args.fusion]
    d = ArchivalConfig()
    dflt = {k: float(getattr(d, k)) for k in grid}
    with tempfile.TemporaryDirectory() as tmp:
        base = ArchivalConfig(path=Path(tmp) / "fit", fusion=args.fusion)
        configs, scores = await score_grid(ds, Path(tmp), base, grid)
        grid_size = len(configs)  # the configurations a fit may choose from
        if args.fusion == "rrf" and dflt in configs:
            default = configs.index(dflt)
        else:  # the yardstick is always the shipped defaults (RRF), scored on the same questions
            rrf_base = ArchivalConfig(path=Path(tmp) / "rrf")
            _, (row,) = await score_grid(ds, Path(tmp), rrf_base, {k: [v] for k, v in dflt.items()})
            configs.append(dict(dflt))
            scores.append(row)
            default = len(configs) - 1
    full = [statistics.fmean(r) for r in scores]
    best = max(range(grid_size), key=lambda c: (full[c], -changes(configs[c])))
    top = sorted(range(grid_size), key=lambda c: -full[c])[:10]
    cv = [cross_validate(configs, scores, default, k, args.seed, grid_size) for k in (5, 10)]
    guard = await synthetic_guard(args.fusion, configs[default], configs[best], args.seed)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "adopt": all(c["cv_score_fitted"] > c["cv_score_defaults"] for c in cv) and guard["no_category_worse"],
        "synthetic_guard": guard,
        "dataset": ds.name, "fusion": args.fusion, "grid": grid, "configurations": grid_size,
        "defaults (shipped, rrf)": configs[default], "defaults_score": round(full[default], 4),
        "best_on_all_of_tuning": configs[best], "best_score": round(full[best], 4),
        "top10": [{"config": configs[c], "score": round(full[c], 4)} for c in top],
        "all": [{"config": configs[c], "score": round(full[c], 4)} for c in range(grid_size)],
        "cv": cv,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description="fit hybrid fusion weights on the tuning set, with cross-validation")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--fusion", choices=sorted(GRIDS), default="rrf", help="which fusion's weights to fit")
    ap.add_argument("--out", default=None, help="default bench/results/fusion-fit-<fusion>.json")
    args = ap.parse_args()
    args.out = args.out or str(Path(__file__).resolve().parent / "results" / f"fusion-fit-{args.fusion}.json")
    res = asyncio.run(amain(args))
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps({k: v for k, v in res.items() if k not in ("top10", "all")}, indent=1))


if __name__ == "__main__":
    main()
