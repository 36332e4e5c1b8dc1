"""Rank fusion (reciprocal rank, or a convex sum of normalised scores), and folding assistant
replies into the owner turns they answer.

Done here rather than with Qdrant's server-side ``Fusion.RRF`` prefetch so that every hit keeps its
rank in each method (``SearchHit.vector_rank`` / ``bm25_rank``, shown by ``hydra memory explain``)
and both backends fuse identically. score(d) = sum_i w_i / (k + rank_i(d)), ranks 1-based.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from memory.archival.dedup import point_id


def rrf(
    rankings: Sequence[Sequence[str]],
    k: int,
    weights: Sequence[float] | None = None,
    scales: Sequence[Mapping[str, float] | None] | None = None,
) -> dict[str, float]:
    """Fused score per id over several best-first rankings. ``scales``: per ranking, an optional
    factor per id multiplying that id's contribution (missing ids: 1.0)."""
    ws = list(weights) if weights is not None else [1.0] * len(rankings)
    sc = list(scales) if scales is not None else [None] * len(rankings)
    if len(ws) != len(rankings) or len(sc) != len(rankings):
        raise ValueError("weights, scales: expected one per ranking")
    scores: dict[str, float] = {}
    for ranking, w, scale in zip(rankings, ws, sc, strict=True):
        if w <= 0:
            continue
        for rank, pid in enumerate(ranking, start=1):
            f = scale.get(pid, 1.0) if scale is not None else 1.0
            scores[pid] = scores.get(pid, 0.0) + w * f / (k + rank)
    return scores


def convex(
    rankings: Sequence[Sequence[str]],
    weights: Sequence[float],
    scores: Sequence[Mapping[str, float] | None],
    scales: Sequence[Mapping[str, float] | None],
) -> dict[str, float]:
    """Fused score per id as a convex-style sum of each method's normalised score:
    sum_i w_i * scale_i(d) * s_i(d) / max_i s_i, where s_i is the method's own score (cosine, BM25)
    floored at 0, and a ranking without scores (the recency prior) counts 1 - (rank - 1) / len.

    Why an alternative to :func:`rrf`: reciprocal rank throws away how far apart two hits are, so a
    vector hit far ahead of the rest counts as much as one barely ahead. Dividing by the best score
    (the theoretical minimum 0 for both cosine and BM25, as the "TM2C2" normalisation of Bruch et
    al. 2022 does) keeps those gaps while putting the methods on one scale. Ids missing from a ranking
    add nothing for it."""
    if not len(rankings) == len(weights) == len(scores) == len(scales):
        raise ValueError("weights, scores, scales: expected one per ranking")
    fused: dict[str, float] = {}
    for ranking, w, sc, scale in zip(rankings, weights, scores, scales, strict=True):
        if w <= 0 or not ranking:
            continue
        if sc is None:
            norm = {pid: 1.0 - r / len(ranking) for r, pid in enumerate(ranking)}
        else:
            top = max((max(sc.get(pid, 0.0), 0.0) for pid in ranking), default=0.0)
            norm = {pid: max(sc.get(pid, 0.0), 0.0) / top if top > 0 else 0.0 for pid in ranking}
        for pid, v in norm.items():
            f = scale.get(pid, 1.0) if scale is not None else 1.0
            fused[pid] = fused.get(pid, 0.0) + w * f * v
    return fused


def lexical_coverage(scores: Mapping[str, float], term_best: Sequence[float]) -> dict[str, float]:
    """Per BM25 hit, the share of the query's lexical weight it carries: its BM25 score over the sum
    of each query term's best score alone, capped at 1.

    Why: reciprocal rank gives BM25's first hit the same weight whether it shares the question's one
    rare word or only "first" and "day". People ask later in other words than they used, so most of
    BM25's ranking is then partial matches on common words, and at equal weight it drags hybrid
    below plain vector search. Scaling each hit's BM25 contribution by its coverage keeps BM25's
    vote where the words really match (names, "Tailscale", "N300") and mutes it where they do not;
    IDF is in both sides of the ratio, so a rare word counts for more than a common one."""
    ideal = sum(t for t in term_best if t > 0)
    if ideal <= 0:
        return {i: 0.0 for i in scores}
    return {i: min(1.0, s / ideal) for i, s in scores.items()}


def fold_replies(
    fused: dict[str, float],
    replies: Mapping[str, tuple[str | None, bool]],
    pids: dict[str, str],
    echo_weight: float,
    *,
    credit_absent: bool,
) -> dict[str, str]:
    """Credit each assistant reply's fused score to the owner turn it answers, in place.

    ``fused``: point id -> fused score; ``replies``: point id -> (passage id of the owner turn that
    candidate answers or None, whether it is an echo); ``pids``: point id -> passage id, extended
    with any owner turn credited here. The owner turn's score becomes the larger of the two, and an
    echo's own is multiplied by ``echo_weight``: "So you've switched to Helix" then neither outranks
    "I've been on helix for two weeks" nor takes the place of other evidence, while a reply that
    adds something (a recipe, advice) keeps its rank. An owner turn that is not among the candidates
    is added only when ``credit_absent`` (no filters were given, so it cannot be one they exclude);
    otherwise the reply keeps its score, being the best stand-in left. Returns {reply point id:
    owner turn point id} for the replies folded."""
    folded: dict[str, str] = {}
    for i, (owner_pid, echo) in list(replies.items()):
        if owner_pid is None or i not in fused:
            continue
        owner = point_id(owner_pid)
        if owner not in fused and not credit_absent:
            continue
        fused[owner] = max(fused.get(owner, 0.0), fused[i])
        pids.setdefault(owner, owner_pid)
        if echo:
            fused[i] *= echo_weight
        folded[i] = owner
    return folded
