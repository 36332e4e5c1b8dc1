"""Reciprocal rank fusion.

Done here rather than with Qdrant's server-side ``Fusion.RRF`` prefetch so that every hit keeps its
rank in each method (``SearchHit.vector_rank`` / ``bm25_rank``, shown by ``hydra memory explain``)
and both backends fuse identically. score(d) = sum_i w_i / (k + rank_i(d)), ranks 1-based.
"""

from __future__ import annotations

from collections.abc import Sequence


def rrf(rankings: Sequence[Sequence[str]], k: int, weights: Sequence[float] | None = None) -> dict[str, float]:
    """Fused score per id over several best-first rankings."""
    ws = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(ws) != len(rankings):
        raise ValueError("weights: expected one per ranking")
    scores: dict[str, float] = {}
    for ranking, w in zip(rankings, ws, strict=True):
        if w <= 0:
            continue
        for rank, pid in enumerate(ranking, start=1):
            scores[pid] = scores.get(pid, 0.0) + w / (k + rank)
    return scores
