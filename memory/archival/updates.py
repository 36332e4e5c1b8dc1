"""Knowledge updates in hybrid search: a newer statement on the same topic ranks above the older one.

When the owner says "my editor is vim" in March and "I switched my editor to neovim" in June, a
question about the editor matches both, and usually the older one better (it repeats the question's
words). Rank fusion alone cannot know one replaces the other. This module reorders the head of a
fused ranking with one rule:

    if two retrieved passages from the same source are about the same thing (cosine of their
    embeddings >= ``update_cosine``, each the other's most similar partner among the hits), the
    newer one answers the query about as well (its cosine to the query at most ``margin`` lower),
    and it ranks below the older one, the newer one moves to just above the older one.

Nothing is hidden or dropped: the older passage stays in the results, right below its update, so
"what was true in March" still finds it — and a query filtered to a time range that excludes the
update ranks the older passage exactly as before (the update is not among the candidates). Only
passages already in the head of the fused ranking are reordered, so an unrelated newer passage is
never pulled in from outside the results. The moved hit keeps its fused score; ``SearchHit.update_of``
names the passage it was moved above.

Why at query time and not by marking passages "superseded" when written: on real conversation the
similarity of a fact and its update varies widely (on the synthetic bench 0.49-0.88 with MiniLM,
while half of all turns have some older turn above 0.6), so a write-time mark would either miss
updates or bury unrelated passages for every query. Restricted to passages that both answer the
current query, the same test is far more precise. Explicit supersession comes from the knowledge
graph: a single-valued relation's new value closes the old fact (``valid_to``), and the context
builder lists current facts before closed ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Candidate:
    id: str
    source: str
    created_at: datetime
    vector: Sequence[float] | None
    relevance: float = 0.0  # cosine to the query


def order_updates(
    ranking: Sequence[str], cands: Mapping[str, Candidate], update_cosine: float, margin: float = 0.1
) -> tuple[list[str], dict[str, str]]:
    """``ranking`` (best first) with each newer same-topic passage placed directly above the older
    one it updates; returns the new order and {moved id: id of the passage it was placed above}."""
    ids = [i for i in ranking if i in cands and cands[i].vector is not None]
    if len(ids) < 2:
        return list(ranking), {}
    return _place_updates(ranking, _updates(ids, cands, update_cosine, margin))


def _cosines(ids: list[str], cands: Mapping[str, Candidate]) -> np.ndarray[Any, np.dtype[np.float32]]:
    mat = np.asarray([cands[i].vector for i in ids], dtype=np.float32)
    mat /= np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
    return mat @ mat.T  # all pairwise cosines in one product


def _updates(ids: list[str], cands: Mapping[str, Candidate], update_cosine: float, margin: float) -> dict[str, str]:
    """{older id: the newer passage that updates it}: its most similar newer candidate, and only if that
    one's most similar older passage is this one (mutual best match), so a cluster of look-alikes
    never reshuffles."""
    full = _cosines(ids, cands)
    at = {i: n for n, i in enumerate(ids)}

    def sim(a: str, b: str) -> float:
        return float(full[at[a], at[b]])

    newer = _newer(ids, cands, full, update_cosine, margin)
    best_newer = {a: max(bs, key=lambda b: (sim(a, b), b)) for a, bs in newer.items() if bs}
    best_older: dict[str, str] = {}  # newer -> the older passage it updates
    for a, b in best_newer.items():
        cur = best_older.get(b)
        if cur is None or (sim(a, b), a) > (sim(cur, b), cur):
            best_older[b] = a
    return {a: b for b, a in best_older.items()}


def _newer(ids: list[str], cands: Mapping[str, Candidate], full: np.ndarray[Any, np.dtype[np.float32]],
           update_cosine: float, margin: float) -> dict[str, list[str]]:
    """{id: the passages that may update it}: newer, from its source, about as relevant, similar enough."""
    sources = {s: k for k, s in enumerate(dict.fromkeys(cands[i].source for i in ids))}
    src = np.asarray([sources[cands[i].source] for i in ids])
    when = np.asarray([cands[i].created_at.timestamp() for i in ids])
    rel = np.asarray([cands[i].relevance for i in ids])
    mask = (  # mask[a, b]: b may update a
        (src[:, None] == src[None, :])
        & (when[None, :] > when[:, None])
        & (rel[None, :] >= rel[:, None] - margin)
        & (full >= update_cosine)
    )
    return {ids[a]: [ids[b] for b in np.flatnonzero(mask[a])] for a in np.flatnonzero(mask.any(axis=1))}


def _place_updates(ranking: Sequence[str], updates: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """The ranking with each update (and its own update) directly above the passage it updates."""
    out: list[str] = []
    placed: set[str] = set()
    moved: dict[str, str] = {}
    pos = {i: n for n, i in enumerate(ranking)}

    def place(x: str) -> None:
        placed.add(x)
        b = updates.get(x)
        if b is not None and b not in placed:  # the update (and its own update) go right above
            if pos[b] > pos[x]:
                moved[b] = x
            place(b)
        out.append(x)

    for i in ranking:
        if i not in placed:
            place(i)
    return out, moved
