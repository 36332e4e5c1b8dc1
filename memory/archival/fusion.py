"""Reciprocal rank fusion, and folding assistant echoes into the owner turns they restate.

Done here rather than with Qdrant's server-side ``Fusion.RRF`` prefetch so that every hit keeps its
rank in each method (``SearchHit.vector_rank`` / ``bm25_rank``, shown by ``hydra memory explain``)
and both backends fuse identically. score(d) = sum_i w_i / (k + rank_i(d)), ranks 1-based.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from memory.archival.dedup import point_id


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


def fold_echoes(
    fused: dict[str, float],
    echo_of: Mapping[str, str | None],
    pids: dict[str, str],
    weight: float,
    *,
    credit_absent: bool,
) -> dict[str, str]:
    """Credit each echo's fused score to the owner turn it restates, in place.

    ``fused``: point id -> fused score; ``echo_of``: point id -> passage id of the owner turn that
    candidate restates (None for others); ``pids``: point id -> passage id, extended with any owner
    turn credited here. The owner turn's score becomes the larger of the two and the echo's own is
    multiplied by ``weight``, so "So you've switched to Helix" no longer outranks "I've been on helix
    for two weeks" nor takes the place of other evidence. An owner turn that is not among the
    candidates is added only when ``credit_absent`` (no filters were given, so it cannot be one they
    exclude); otherwise the echo keeps its score, being the best stand-in left. Returns
    {echo point id: owner turn point id} for the echoes folded."""
    folded: dict[str, str] = {}
    for i, owner_pid in list(echo_of.items()):
        if owner_pid is None or i not in fused:
            continue
        owner = point_id(owner_pid)
        if owner not in fused and not credit_absent:
            continue
        fused[owner] = max(fused.get(owner, 0.0), fused[i])
        pids.setdefault(owner, owner_pid)
        fused[i] *= weight
        folded[i] = owner
    return folded
