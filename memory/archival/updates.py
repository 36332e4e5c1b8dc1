"""Knowledge updates in hybrid search: a newer statement on the same topic ranks above the older one.

When the owner says "my editor is vim" in March and "I switched my editor to neovim" in June, a
question about the editor matches both, and usually the older one better (it repeats the question's
words). Rank fusion alone cannot know one replaces the other. This module reorders the head of a
fused ranking with one rule:

    if two retrieved exchanges from the same source are about the same thing (cosine of their mean
    embeddings >= ``update_cosine``, each the other's most similar partner among the hits), the
    newer one answers the query about as well (its best passage's cosine to the query at most
    ``margin`` lower), and it ranks below the older one, the newer one moves to just above the older
    one.

An exchange is an owner turn and the assistant's replies to it (``Passage.reply_to``); a passage
that is neither is an exchange of its own. Comparing exchanges rather than passages does two things.
A reply is never taken for an update of the turn it answers (it is newer by seconds and, as an
echo, the most similar passage there is: it took the owner turn's real update's place as its best
partner, and was lifted from the bottom of the results to the top). And the assistant's
restatement names the topic in the same clean words each time ("Noor now packs three afternoons a
week"), where the owner's turns are chatty and unlike each other ("noor is doing three afternoons
now, she folds bubble wrap like origami"), so two statements on one topic look alike as exchanges
when they do not as turns. The store passes the head's replies that rank below the head as well:
they lend their vectors and are not moved. Queries about the present use ``update_cosine_current``
(:mod:`memory.archival.intent`; they ask for the newest statement on their topic).

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
    # the exchange the passage belongs to: the owner turn's passage id, for that turn and the assistant's
    # replies to it (``Passage.reply_to``); None: a passage of its own
    exchange: str | None = None


def order_updates(
    ranking: Sequence[str], cands: Mapping[str, Candidate], update_cosine: float, margin: float = 0.1
) -> tuple[list[str], dict[str, str]]:
    """``ranking`` (best first) with each newer same-topic exchange placed directly above the older
    one it updates; returns the new order and {moved id: id of the passage it was placed above}.

    The unit compared is the exchange, not the passage: an owner turn and the assistant's replies to
    it say one thing, so a reply is never taken for an update of the turn it answers (it is newer by
    seconds and, as an echo, the most similar passage there is, which took the place of the real
    update as the older turn's best partner), and two exchanges are compared by the mean of their
    turns' vectors: the assistant's restatement names the topic in cleaner words than the owner's
    chatty turn ("noor is doing three afternoons now, she folds bubble wrap like origami" and "Noor
    now packs three afternoons a week"), which is what makes two statements on one topic look alike."""
    ids = [i for i in ranking if i in cands and cands[i].vector is not None]
    if len(ids) < 2:
        return list(ranking), {}
    ranked = set(ids)
    # candidates outside the ranking (a ranked turn's reply, say) only lend their vector to their exchange
    unit_of = _exchange_keys([*ids, *(i for i in cands if i not in ranked and cands[i].vector is not None)], cands)
    members = _members(ids, unit_of)
    if len(members) < 2:
        return list(ranking), {}
    units = _exchanges(_members(list(unit_of), unit_of), cands)
    return _place_updates(ranking, unit_of, members, _updates(list(members), units, update_cosine, margin))


def _exchange_keys(ids: list[str], cands: Mapping[str, Candidate]) -> dict[str, str]:
    return {i: f"{cands[i].source}\x00{cands[i].exchange or i}" for i in ids}


def _exchanges(members: Mapping[str, list[str]], cands: Mapping[str, Candidate]) -> dict[str, Candidate]:
    """Each exchange as one candidate: the mean direction of its passages' vectors, its best passage's
    relevance, the time of its first passage (the owner turn)."""
    units: dict[str, Candidate] = {}
    for key, group in members.items():
        mat = np.asarray([cands[i].vector for i in group], dtype=np.float32)
        mat /= np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
        units[key] = Candidate(
            key, cands[group[0]].source, min(cands[i].created_at for i in group), mat.sum(axis=0),
            max(cands[i].relevance for i in group),
        )
    return units


def _members(ids: list[str], unit_of: Mapping[str, str]) -> dict[str, list[str]]:
    """{exchange key: its passages, in ranking order}."""
    out: dict[str, list[str]] = {}
    for i in ids:
        out.setdefault(unit_of[i], []).append(i)
    return out


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


def _place_updates(
    ranking: Sequence[str], unit_of: Mapping[str, str], members: Mapping[str, list[str]], updates: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The ranking with each update's passages (and its own update's) directly above the first passage
    of the exchange it updates; passages already above it stay where they are."""
    out: list[str] = []
    placed: set[str] = set()
    moved: dict[str, str] = {}
    pos = {i: n for n, i in enumerate(ranking)}

    def place(x: str) -> None:
        placed.add(x)
        newer = updates.get(unit_of[x]) if x in unit_of else None
        for y in members.get(newer, []) if newer is not None else []:
            if y not in placed:  # the update (and its own update) go right above
                if pos[y] > pos[x]:
                    moved[y] = x
                place(y)
        out.append(x)

    for i in ranking:
        if i not in placed:
            place(i)
    return out, moved
