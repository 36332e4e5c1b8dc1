"""Hybrid search with ``fusion = "convex"`` on a tiny real store (both archival backends): the fused
score is the weighted sum of each method's score over its best, so a passage that is the best hit of
both methods and carries all of the query's words scores exactly 1 + bm25_weight — a value reciprocal
rank fusion cannot give (1.5 / (k + 1))."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory.archival import open_archival
from memory.embed import HashingEmbedder
from tests.memory.test_archival_contract import CORPUS, cfg_for, kind, load

__all__ = ["kind"]  # the backend fixture, parametrised over edge and qdrant-local

ONLY_TWO_METHODS = {"hop_weight": 0.0, "time_weight": 0.0, "recency_weight_current": 0.0, "bm25_weight": 0.5}


@pytest.mark.parametrize("fusion", ["convex", "rrf"])
async def test_hybrid_fuses_by_the_configured_fusion(kind: str, tmp_path: Path, fusion: str) -> None:
    cfg = cfg_for(kind, tmp_path).model_copy(update={**ONLY_TWO_METHODS, "fusion": fusion})
    store = await open_archival(cfg, HashingEmbedder(256), tmp_path)
    try:
        ids = await load(store)
        hits = await store.search(CORPUS[5][0], limit=3)
        assert hits[0].passage.id == ids[5] and hits[0].vector_rank == 1 and hits[0].bm25_rank == 1
        expected = 1.0 + 0.5 if fusion == "convex" else (1.0 + 0.5) / (cfg.rrf_k + 1)
        assert hits[0].score == pytest.approx(expected)
        assert all(h.score < hits[0].score for h in hits[1:])
    finally:
        await store.close()
