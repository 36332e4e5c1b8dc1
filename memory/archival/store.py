"""The archival store: passages with hybrid (vector + BM25, reciprocal-rank fused) search.

One implementation of :class:`memory.protocols.ArchivalStore` over an :class:`Engine` (embedded
Qdrant or a Qdrant server). All engine calls run in worker threads; writes are serialised by one
lock so dedup decisions and writes never interleave.

- Exact duplicates (same content hash) are stored once: ``add`` answers ``duplicate`` with the id
  of the stored passage.
- Near-duplicates (see :mod:`memory.archival.dedup`) are stored, marked ``linked`` and pointed at
  their canonical passage (``near_duplicate_of``); search never returns them, so a group shows once,
  while ``get``, export and import keep them.
- Conversation turns carry their speaker (``role``). An assistant turn is stored linked to the owner
  turn of its session it answers (``reply_to``: the latest one said at most ``echo_window_s``
  before it), and marked an ``echo`` when it mostly restates it (cosine >= ``echo_cosine``). Hybrid
  search credits a reply's rank to the owner turn and lowers an echo's own, so the owner's words are
  found even when the assistant's cleaner restatement matches the question better, and the
  restatement does not crowd other evidence out.
- A query that names dates or periods ("on December 26th", "last week", :mod:`memory.archival.when`)
  adds a ranking of the passages said then (``time_weight``), read against ``asked_at``.
- The embedding model the vectors come from is recorded with the store. A query or write with
  another embedder raises :class:`EmbeddingModelMismatchError`; ``reindex`` re-embeds everything
  into a fresh generation and switches over atomically.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from memory.archival.bm25 import Bm25Encoder
from memory.archival.config import ArchivalConfig
from memory.archival.dedup import content_hash, jaccard, passage_id_for, point_id, words
from memory.archival.engine import Engine, Found, PointData, StoreMeta, TimeField
from memory.archival.fusion import convex, fold_replies, lexical_coverage, rrf
from memory.archival.intent import temporal_intent
from memory.archival.named import named_days
from memory.archival.termcache import TermBestCache
from memory.archival.threads import StoreThreads
from memory.archival.updates import Candidate, order_updates
from memory.archival.when import TimeWindow, time_windows
from memory.errors import EmbeddingModelMismatchError, MemoryInputError, MemoryNotFoundError
from memory.protocols import (
    AddResult,
    Embedder,
    OptimiseOutcome,
    Page,
    Passage,
    PassageIn,
    Role,
    SearchFilters,
    SearchHit,
    SearchMode,
)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _stable(found: list[Found]) -> list[Found]:
    """Best first; equal scores in passage-id order (engines return ties in storage order)."""
    return sorted(found, key=lambda f: (-f.score, f.payload["pid"]))


_FUSION_FIELDS = ("pid", "created_at", "source", "reply_to", "echo")
_MAX_WINDOWS = 3  # time phrases of one query that get their own filtered query


def _named(text: str, said_at: datetime) -> list[str]:
    """The payload's ``named_days``: the days the text names, read against when it was said."""
    return [_iso(d) for d in named_days(text, said_at)]


def _created(f: Found) -> datetime:
    return datetime.fromisoformat(f.payload["created_at"].replace("Z", "+00:00"))


def _passage(f: Found, *, with_vector: bool = False) -> Passage:
    p = f.payload
    return Passage(
        id=p["pid"],
        text=p["text"],
        source=p["source"],
        tags=list(p.get("tags") or []),
        session=p.get("session"),
        created_at=_created(f),
        embedding_model=p["embedding_model"],
        near_duplicate_of=p.get("near_duplicate_of"),
        vector=list(f.dense) if with_vector and f.dense is not None else None,
        role=p.get("role"),  # absent in passages stored before roles existed
        reply_to=p.get("reply_to"),
        echo=bool(p.get("echo", False)),
    )


@dataclass
class _Pool:
    """A search's candidates and the rankings fused over them (with each ranking's weight and score scale)."""

    dense: list[Found]
    sparse: list[Found]
    timed: list[Found]
    by_id: dict[str, Found]
    rankings: list[list[str]]
    weights: list[float]
    scales: list[dict[str, float] | None]
    scores: list[dict[str, float] | None]  # each ranking's own scores (convex fusion); None: rank only

    def add(self, ranking: list[str], weight: float, scores: dict[str, float] | None = None) -> None:
        self.rankings.append(ranking)
        self.weights.append(weight)
        self.scales.append(None)
        self.scores.append(scores)

    def fuse(self, cfg: ArchivalConfig) -> dict[str, float]:
        """The fused score per candidate, by the configured fusion."""
        if cfg.fusion == "convex":
            return convex(self.rankings, self.weights, self.scores, self.scales)
        return rrf(self.rankings, cfg.rrf_k, self.weights, self.scales)


def _window_filters(base: SearchFilters, w: TimeWindow) -> list[tuple[TimeField, SearchFilters]]:
    """The filters of one time window's queries: passages said inside it, and passages naming a day
    inside it. A caller's own time bounds are about when a passage was said, so with them only the
    first query runs, bounded by both (none when they exclude the window)."""
    if base.since is None and base.until is None:
        flt = base.model_copy(update={"since": w.start, "until": w.end})
        return [("created_at", flt), ("named_days", flt)]
    since = max(t for t in (base.since, w.start) if t is not None)
    until = min(t for t in (base.until, w.end) if t is not None)
    return [("created_at", base.model_copy(update={"since": since, "until": until}))] if since < until else []


def _seeds(fused: dict[str, float], by_id: dict[str, Found], k: int) -> list[str]:
    """The best ``k`` fused hits, one per exchange: an owner turn and the assistant's reply to it
    (often an echo, restating it) say one thing, and seeding the second hop with both would spend it
    on words already seeded."""
    seeds: list[str] = []
    exchanges: set[str] = set()
    for i in sorted(fused, key=lambda i: (-fused[i], by_id[i].payload["pid"])):
        exchange = by_id[i].payload.get("reply_to") or by_id[i].payload["pid"]
        if exchange not in exchanges:
            exchanges.add(exchange)
            seeds.append(i)
            if len(seeds) == k:
                break
    return seeds


def _link_target(link: tuple[str, str] | None, fresh_pids: list[str]) -> str | None:
    """The passage a near duplicate links to: one stored (``("store", pid)``) or one earlier in the
    same batch (``("batch", its index among the fresh passages)``)."""
    if link is None:
        return None
    return fresh_pids[int(link[1])] if link[0] == "batch" else link[1]


class QdrantArchivalStore:
    """Hybrid-search passage store; build with :func:`memory.archival.open_archival`."""

    def __init__(self, engine: Engine, embedder: Embedder, cfg: ArchivalConfig) -> None:
        self._engine = engine
        self._embedder = embedder
        self._cfg = cfg
        self._bm25 = Bm25Encoder(avg_len=cfg.bm25_avg_len)
        self._term_best = TermBestCache()
        self._write = asyncio.Lock()
        self._closed = False
        self._threads = StoreThreads("archival-store")  # not asyncio's default executor (see threads.py)

    # ---------------------------------------------------------------- model bookkeeping

    @property
    def embedding_model(self) -> str:
        meta = self._engine.meta
        return meta.embedding_model if meta is not None else self._embedder.model

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def _check_model(self) -> None:
        meta = self._engine.meta
        if meta is not None and meta.embedding_model != self._embedder.model:
            raise EmbeddingModelMismatchError(
                f"the archival store holds vectors from {meta.embedding_model!r} but the configured embedder "
                f"is {self._embedder.model!r}; run `hydra memory reindex` to re-embed every passage with "
                f"{self._embedder.model!r}, or configure the embedder back to {meta.embedding_model!r}"
            )

    async def _ensure_created(self) -> None:
        if self._engine.meta is None:
            meta = StoreMeta(self._embedder.model, self._embedder.dim)
            await self._threads.run(self._engine.create, meta)

    # ---------------------------------------------------------------- writes

    async def add(self, passages: list[PassageIn]) -> list[AddResult]:
        self._check_model()
        results: list[AddResult] = []
        async with self._write:
            await self._ensure_created()
            for i in range(0, len(passages), self._cfg.batch_size):
                results.extend(await self._add_batch(passages[i : i + self._cfg.batch_size]))
        return results

    async def _add_batch(self, batch: list[PassageIn]) -> list[AddResult]:
        """Duplicates answered by the passage they repeat; the fresh ones embedded, linked to a near
        duplicate or the turn they reply to, and written in one upsert."""
        hashes = [content_hash(p.text) for p in batch]
        results, fresh, pids = await self._sort_out_duplicates(batch, hashes)
        if not fresh:
            return [r for r in results if r is not None]
        items = [batch[i] for i in fresh]
        vecs = await self._embedder.embed([p.text for p in items])
        links = await self._near_duplicates([p.text for p in items], vecs)
        replies = await self._threads.run(self._replies, items, pids, vecs, links)
        points: list[PointData] = []
        for j, i in enumerate(fresh):
            linked_to = _link_target(links[j], pids)
            points.append(self._point(items[j], hashes[i], pids[j], vecs[j], linked_to, replies[j]))
            results[i] = (
                AddResult(id=pids[j], status="linked", linked_to=linked_to)
                if linked_to
                else AddResult(id=pids[j], status="added")
            )
        await self._threads.run(self._engine.upsert, points)
        self._term_best.clear()  # new passages change the IDF and the terms' best scores
        return [r for r in results if r is not None]

    async def _sort_out_duplicates(
        self, batch: list[PassageIn], hashes: list[str]
    ) -> tuple[list[AddResult | None], list[int], list[str]]:
        """Each passage's result when it duplicates one stored or earlier in the batch (else None), the
        indexes of the fresh ones and their passage ids."""
        known = await self._threads.run(self._engine.find_hashes, sorted(set(hashes)))
        given = [p.id for p in batch if p.id]
        if given:  # an id asked for that already exists is a duplicate of itself
            for f in await self._threads.run(self._engine.retrieve, [point_id(x) for x in given], False):
                known.setdefault(f.payload["text_hash"], f.payload["pid"])
        results: list[AddResult | None] = [None] * len(batch)
        fresh: list[int] = []
        seen: dict[str, str] = {}
        for i, (p, h) in enumerate(zip(batch, hashes, strict=True)):
            if h in known:
                results[i] = AddResult(id=known[h], status="duplicate")
            elif h in seen:
                results[i] = AddResult(id=seen[h], status="duplicate")
            else:
                seen[h] = p.id or passage_id_for(h)
                fresh.append(i)
        return results, fresh, [seen[hashes[i]] for i in fresh]

    def _point(
        self, p: PassageIn, text_hash: str, pid: str, vec: list[float], linked_to: str | None,
        reply: tuple[str, bool] | None,
    ) -> PointData:
        return PointData(
            id=point_id(pid),
            dense=vec,
            sparse=self._bm25.document(p.text),
            payload={
                "pid": pid,
                "text": p.text,
                "source": p.source,
                "tags": list(p.tags),
                "session": p.session,
                "created_at": _iso(p.created_at),
                "named_days": _named(p.text, p.created_at),
                "text_hash": text_hash,
                "dup": "linked" if linked_to is not None else "canonical",
                "near_duplicate_of": linked_to,
                "embedding_model": self._embedder.model,
                "role": str(p.role) if p.role is not None else None,
                "reply_to": reply[0] if reply is not None else None,
                "echo": reply is not None and reply[1],
            },
        )

    def _replies(
        self,
        items: list[PassageIn],
        pids: list[str],
        vecs: list[list[float]],
        links: list[tuple[str, str] | None],
    ) -> list[tuple[str, bool] | None]:
        """Per item: (id of the owner turn this assistant turn answers, whether it is an echo), or None (sync).

        The answered turn is the latest owner turn of the same source and session said at most
        ``echo_window_s`` before it: among earlier items of this batch (not near-duplicates, which
        search never returns) and stored passages. It is an echo at cosine >= ``echo_cosine``."""
        out: list[tuple[str, bool] | None] = [None] * len(items)
        if not any(p.role == Role.ASSISTANT for p in items):
            return out
        mat = np.asarray(vecs, dtype=np.float32)
        window = timedelta(seconds=self._cfg.echo_window_s)
        for j, p in enumerate(items):
            if p.role != Role.ASSISTANT:
                continue
            # (said at, tie-break, owner pid, cosine): the latest wins, a batch item over a stored one
            found: list[tuple[datetime, int, str, float]] = [
                (q.created_at, 1 + k, pids[k], float(mat[j] @ mat[k]))
                for k, q in enumerate(items[:j])
                if q.role == Role.USER and links[k] is None and q.source == p.source and q.session == p.session
                and p.created_at - window <= q.created_at <= p.created_at
            ]
            if self._engine.meta is not None:
                flt = SearchFilters(
                    source=p.source, session=p.session, role=Role.USER,
                    since=p.created_at - window, until=p.created_at + timedelta(microseconds=1),
                )
                for f in self._engine.query("dense", [vecs[j]], 5, flt, True, ("pid", "created_at"))[0]:
                    found.append((_created(f), 0, f.payload["pid"], f.score))
            if found:
                _, _, owner, cos = max(found)
                out[j] = (owner, cos >= self._cfg.echo_cosine)
        return out

    async def _near_duplicates(self, texts: list[str], vecs: list[list[float]]) -> list[tuple[str, str] | None]:
        """Per text: ("store", canonical pid), ("batch", index of an earlier text here), or None."""
        cos, jac = self._cfg.near_duplicate_cosine, self._cfg.near_duplicate_jaccard
        wsets = [words(t) for t in texts]
        hits = await self._threads.run(self._engine.query, "dense", list(vecs), 3, None, True)
        out: list[tuple[str, str] | None] = [None] * len(texts)
        for j, found in enumerate(hits):
            for f in found:
                if f.score >= cos and jaccard(wsets[j], words(f.payload["text"])) >= jac:
                    out[j] = ("store", f.payload["pid"])
                    break
        if len(texts) > 1:
            mat = np.asarray(vecs, dtype=np.float32)
            sims = mat @ mat.T
            for j in range(1, len(texts)):
                if out[j] is not None:
                    continue
                for k in np.nonzero(sims[j, :j] >= cos)[0]:
                    if out[int(k)] is None and jaccard(wsets[j], wsets[int(k)]) >= jac:
                        out[j] = ("batch", str(int(k)))
                        break
        return out

    # ---------------------------------------------------------------- reads

    async def search(
        self,
        query: str,
        *,
        limit: int = 10,
        filters: SearchFilters | None = None,
        mode: SearchMode = "hybrid",
        asked_at: datetime | None = None,
    ) -> list[SearchHit]:
        if not query.strip():
            raise MemoryInputError("query: expected non-empty text")
        if not 1 <= limit <= 1000:
            raise MemoryInputError(f"limit: expected 1-1000, got {limit}")
        if asked_at is not None and asked_at.tzinfo is None:
            raise MemoryInputError("asked_at: expected a timezone-aware datetime")
        if mode not in ("hybrid", "vector", "bm25"):
            raise MemoryInputError(f"mode: expected hybrid, vector or bm25, got {mode!r}")
        self._check_model()
        if self._engine.meta is None:
            return []
        n = limit if mode != "hybrid" else max(limit, self._cfg.candidates)
        if mode == "vector":
            qvec = (await self._embedder.embed([query]))[0]
            dense = _stable((await self._threads.run(self._engine.query, "dense", [qvec], n, filters, True))[0])
            return [self._hit(f, f.score, dense, []) for f in dense[:limit]]
        qs = self._bm25.query(query)
        if mode == "bm25":
            if not qs[0]:
                return []
            sparse = _stable((await self._threads.run(self._engine.query, "bm25", [qs], n, filters, True))[0])
            return [self._hit(f, f.score, [], sparse) for f in sparse[:limit]]
        qvec = (await self._embedder.embed([query]))[0]
        # both queries, the fusion and the update ordering in one worker-thread hop: nothing here
        # needs the event loop, and each hop costs a loop round trip
        windows = time_windows(query, asked_at) if self._cfg.time_weight > 0 else []
        return await self._threads.run(self._hybrid, query, qvec, qs, n, filters, limit, windows)

    @staticmethod
    def _hit(
        f: Found, score: float, dense: list[Found], sparse: list[Found], update_of: str | None = None
    ) -> SearchHit:
        vrank = next((r for r, d in enumerate(dense, 1) if d.id == f.id), None)
        brank = next((r for r, d in enumerate(sparse, 1) if d.id == f.id), None)
        return SearchHit(passage=_passage(f), score=score, vector_rank=vrank, bm25_rank=brank, update_of=update_of)

    def _hybrid(
        self,
        query: str,
        qvec: list[float],
        qs: tuple[list[int], list[float]],
        n: int,
        filters: SearchFilters | None,
        limit: int,
        windows: list[TimeWindow],
    ) -> list[SearchHit]:
        """Vector + BM25 (+ time-window) candidates fused by weighted reciprocal rank, replies folded
        into the owner turns they answer, then knowledge updates ordered (sync)."""
        intent = temporal_intent(query)
        if windows and intent != "current":
            intent = "past"  # a question about a stated time: no recency prior, no update ordering
        pool = self._candidates(qvec, qs, n, filters, windows, intent)
        fused = pool.fuse(self._cfg)
        # a question keyed by a date is answered by what was said then, not by the best hit's neighbours
        if self._cfg.hop_weight > 0 and qs[0] and fused and not pool.timed:
            fused = self._second_hop_fused(pool, fused, qs, n, filters)
        by_id = pool.by_id
        pids = {i: f.payload["pid"] for i, f in by_id.items()}
        fold_replies(
            fused,
            {i: (f.payload.get("reply_to"), bool(f.payload.get("echo"))) for i, f in by_id.items()},
            pids,
            self._cfg.echo_weight,
            credit_absent=filters is None,
        )
        # ties broken by passage id, so a store and its restored copy answer identically
        order = sorted(fused, key=lambda i: (-fused[i], pids[i]))
        # the exchange of each candidate: its owner turn's passage id (owner turns credited above included)
        exchange = {i: (by_id[i].payload.get("reply_to") if i in by_id else None) or pid for i, pid in pids.items()}
        head, full, moved = self._ordered_head(order, limit, intent, qvec, exchange)
        return [
            self._hit(full[i], fused[i], pool.dense, pool.sparse, pids.get(moved[i]) if i in moved else None)
            for i in head[:limit]
            if i in full  # a passage deleted between the two reads is left out
        ]

    def _candidates(
        self,
        qvec: list[float],
        qs: tuple[list[int], list[float]],
        n: int,
        filters: SearchFilters | None,
        windows: list[TimeWindow],
        intent: str | None,
    ) -> _Pool:
        """The first pass: dense, BM25 and time-window candidates, and the recency prior's ranking."""
        # candidates carry only what fusion needs; the hits' full payloads come with the head later
        dense = _stable(self._engine.query("dense", [qvec], n, filters, True, _FUSION_FIELDS)[0])
        sparse: list[Found] = []
        coverage: dict[str, float] | None = None
        if qs[0]:
            sparse = _stable(self._engine.query("bm25", [qs], n, filters, True, _FUSION_FIELDS)[0])
            if self._cfg.bm25_coverage and sparse:
                # each query term alone, best hit only, in one batch: the terms' best scores are what a
                # hit matching every word would score, the yardstick of lexical_coverage
                coverage = lexical_coverage({f.id: f.score for f in sparse}, self._terms_best(qs[0], filters))
        timed = self._in_windows(qvec, n, filters, windows)
        pool = _Pool(dense, sparse, timed, by_id={f.id: f for f in (*dense, *sparse, *timed)},
                     rankings=[[f.id for f in dense], [f.id for f in sparse], [f.id for f in timed]],
                     weights=[1.0, self._cfg.bm25_weight, self._cfg.time_weight],
                     scales=[None, coverage, None],
                     scores=[self._scores(found) for found in (dense, sparse, timed)])
        recency = {"current": self._cfg.recency_weight_current, "past": 0.0, None: self._cfg.recency_weight}[intent]
        if recency > 0:
            by_id = pool.by_id
            pool.add(sorted(by_id, key=lambda i: (by_id[i].payload["created_at"], by_id[i].payload["pid"]))[::-1],
                     recency)
        return pool

    def _scores(self, found: list[Found]) -> dict[str, float] | None:
        """A ranking's own scores by id, which only convex fusion reads (RRF needs the ranks alone)."""
        return {f.id: f.score for f in found} if self._cfg.fusion == "convex" else None

    def _second_hop_fused(
        self,
        pool: _Pool,
        fused: dict[str, float],
        qs: tuple[list[int], list[float]],
        n: int,
        filters: SearchFilters | None,
    ) -> dict[str, float]:
        """The fusion again with the second hop's ranking (seeded by the best fused hits) added to the pool."""
        by_id = pool.by_id
        hop = self._second_hop(qs, _seeds(fused, by_id, self._cfg.hop_from), n, filters)
        by_id.update((f.id, f) for f in hop if f.id not in by_id)
        pool.add([f.id for f in hop], self._cfg.hop_weight, self._scores(hop))
        return pool.fuse(self._cfg)

    def _ordered_head(
        self, order: list[str], limit: int, intent: str | None, qvec: list[float], exchange: dict[str, str]
    ) -> tuple[list[str], dict[str, Found], dict[str, str]]:
        """The head of the fused order with full payloads and, unless the question is about the past,
        newer same-topic exchanges placed above the ones they update (``moved``: id -> id it updates).
        ``exchange``: point id -> the exchange it belongs to (its owner turn's passage id), for every
        candidate; the head's exchange partners below the head lend their vectors to the comparison."""
        head = order[: max(self._cfg.update_window, 2 * limit)]
        ordering = len(head) > 1 and intent != "past"  # "what did I use before?" wants the older passage as ranked
        if not ordering:
            return head, {f.id: f for f in self._engine.retrieve(head[:limit], False)}, {}
        in_head = {exchange[i] for i in head if i in exchange}
        partners = [i for i in order[len(head):] if exchange.get(i) in in_head]
        full = {f.id: f for f in self._engine.retrieve(head + partners, True)}
        found = [f for f in full.values() if f.dense is not None]
        if not found:
            return head, full, {}
        mat = np.asarray([f.dense for f in found], dtype=np.float32)
        rel = mat @ np.asarray(qvec, dtype=np.float32)  # cosine: both sides are unit vectors
        cands = {
            f.id: Candidate(f.id, f.payload["source"], _created(f), mat[k], float(rel[k]), exchange.get(f.id))
            for k, f in enumerate(found)
        }
        threshold = self._cfg.update_cosine_current if intent == "current" else self._cfg.update_cosine
        head, moved = order_updates(head, cands, threshold, self._cfg.update_margin)
        return head, full, moved

    def _terms_best(self, terms: list[int], filters: SearchFilters | None) -> list[float]:
        """Each term's best BM25 score alone under ``filters``: cached, else each term queried alone,
        best hit only, in one batch (sync)."""
        scope = filters.model_dump_json() if filters is not None else ""
        best = self._term_best.get(terms, scope)
        todo = [t for t, b in zip(terms, best, strict=True) if b is None]
        if todo:
            batch: list[list[float] | tuple[list[int], list[float]]] = [([t], [1.0]) for t in todo]
            found = [r[0].score if r else 0.0 for r in self._engine.query("bm25", batch, 1, filters, True, ("pid",))]
            self._term_best.put(todo, found, scope)
            fresh = dict(zip(todo, found, strict=True))
            best = [b if b is not None else fresh[t] for t, b in zip(terms, best, strict=True)]
        return [b or 0.0 for b in best]

    def _second_hop(
        self, qs: tuple[list[int], list[float]], seeds: list[str], n: int, filters: SearchFilters | None
    ) -> list[Found]:
        """BM25 over the seed hits' own words that are not the query's, at half weight (sync); none
        when the seeds add no word.

        Pseudo-relevance feedback, one step: the best hits name what the question only points at
        (the company, the tool, the person), and the passages that complete the answer share those
        words. The collection's IDF keeps the seeds' rare words (names) ahead of their common ones.
        The query's own words are left out: the BM25 ranking has voted for them already, scaled by
        lexical coverage, and counting them again here gave every passage sharing a common word of the
        question ("first", "day", "new") an unscaled vote, which pushed the vector side's best hit down
        (hybrid below plain vector search on single-hop questions worded unlike the evidence)."""
        query = set(qs[0])
        terms: dict[int, float] = {}
        for f in self._engine.retrieve(seeds, False):
            for t in self._bm25.document(f.payload["text"])[0]:
                if t not in query:
                    terms.setdefault(t, 0.5)
        if not terms:
            return []
        vec = (list(terms), list(terms.values()))
        return _stable(self._engine.query("bm25", [vec], n, filters, True, _FUSION_FIELDS)[0])

    def _in_windows(
        self, qvec: list[float], n: int, filters: SearchFilters | None, windows: list[TimeWindow]
    ) -> list[Found]:
        """The passages said inside the query's time windows or naming a day inside them ("on sunday",
        said two days later), most similar to the query first (sync)."""
        best: dict[str, Found] = {}
        base = filters or SearchFilters()
        for w in windows[:_MAX_WINDOWS]:
            for field, flt in _window_filters(base, w):
                for f in self._engine.query("dense", [qvec], n, flt, True, _FUSION_FIELDS, field)[0]:
                    if f.id not in best or f.score > best[f.id].score:
                        best[f.id] = f
        return _stable(list(best.values()))

    async def get(self, passage_id: str) -> Passage:
        if self._engine.meta is not None:
            found = await self._threads.run(self._engine.retrieve, [point_id(passage_id)], False)
            if found:
                return _passage(found[0])
        raise MemoryNotFoundError(f"passage {passage_id!r}: no such passage in the archival store")

    async def count(self) -> int:
        if self._engine.meta is None:
            return 0
        return await self._threads.run(self._engine.count)

    async def export_page(self, cursor: str | None, limit: int) -> Page[Passage]:
        if self._engine.meta is None:
            return Page[Passage](items=[], next_cursor=None)
        found, nxt = await self._threads.run(self._engine.scroll, cursor, limit, True)
        return Page[Passage](items=[_passage(f, with_vector=True) for f in found], next_cursor=nxt)

    # ---------------------------------------------------------------- maintenance

    async def import_passages(self, passages: list[Passage]) -> None:
        model = self._embedder.model
        self._check_model()
        async with self._write:
            await self._ensure_created()
            for i in range(0, len(passages), self._cfg.batch_size):
                batch = passages[i : i + self._cfg.batch_size]
                redo = [j for j, p in enumerate(batch) if p.vector is None or p.embedding_model != model]
                fresh = await self._embedder.embed([batch[j].text for j in redo]) if redo else []
                vec_of = dict(zip(redo, fresh, strict=True))
                points = [self._point_from(p, vec_of.get(j, p.vector), model) for j, p in enumerate(batch)]
                await self._threads.run(self._engine.upsert, points)
                self._term_best.clear()

    def _point_from(self, p: Passage, vec: list[float] | None, model: str) -> PointData:
        assert vec is not None
        if len(vec) != self._embedder.dim:
            raise MemoryInputError(f"passage {p.id!r} vector: expected {self._embedder.dim} numbers, got {len(vec)}")
        return PointData(
            id=point_id(p.id),
            dense=list(vec),
            sparse=self._bm25.document(p.text),
            payload={
                "pid": p.id,
                "text": p.text,
                "source": p.source,
                "tags": list(p.tags),
                "session": p.session,
                "created_at": _iso(p.created_at),
                "named_days": _named(p.text, p.created_at),
                "text_hash": content_hash(p.text),
                "dup": "linked" if p.near_duplicate_of is not None else "canonical",
                "near_duplicate_of": p.near_duplicate_of,
                "embedding_model": model,
                "role": str(p.role) if p.role is not None else None,
                "reply_to": p.reply_to,
                "echo": p.echo,
            },
        )

    async def reindex(self, embedder: Embedder, progress: Callable[[int, int], None] | None = None) -> int:
        """Re-embed every passage with ``embedder`` into a new generation, then switch to it."""
        async with self._write:
            total = await self.count()
            old_meta = self._engine.meta
            generation = old_meta.generation + 1 if old_meta is not None else 1
            meta = StoreMeta(embedder.model, embedder.dim, generation)
            await self._threads.run(self._engine.begin_generation, meta)
            done = 0
            try:
                cursor: str | None = None
                while old_meta is not None:
                    found, cursor = await self._threads.run(self._engine.scroll, cursor, self._cfg.batch_size, False)
                    if found:
                        vecs = await embedder.embed([f.payload["text"] for f in found])
                        pts = [
                            PointData(f.id, v, self._bm25.document(f.payload["text"]), self._payload_for(f, embedder))
                            for f, v in zip(found, vecs, strict=True)
                        ]
                        await self._threads.run(self._engine.upsert_next, pts)
                        done += len(found)
                        if progress is not None:
                            progress(done, total)
                    if cursor is None:
                        break
                await self._threads.run(self._engine.commit_generation)
                self._term_best.clear()
            except BaseException:
                await self._threads.run(self._engine.abort_generation)
                raise
            self._embedder = embedder
            return done

    @staticmethod
    def _payload_for(f: Found, embedder: Embedder) -> dict[str, Any]:
        # named_days recomputed: passages stored before the field existed gain it on a reindex
        return {**f.payload, "embedding_model": embedder.model, "named_days": _named(f.payload["text"], _created(f))}

    async def optimize(self, quiet_s: float = 0.0) -> OptimiseOutcome:
        if self._engine.meta is None:
            return OptimiseOutcome.COMPLETED
        return await self._threads.run(self._engine.optimize, quiet_s)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._write:
            await asyncio.to_thread(self._engine.close)  # not behind a stuck call on the store threads
        self._threads.shutdown()

    async def __aenter__(self) -> QdrantArchivalStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
