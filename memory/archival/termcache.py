"""A short-lived cache of each query term's best BM25 score, the yardstick of lexical coverage.

Hybrid search scales BM25's vote by how much of the query's lexical weight a hit carries
(:func:`memory.archival.fusion.lexical_coverage`); the yardstick is each query term's best score
alone, one ``limit 1`` BM25 query per term. At 100k passages those queries cost about as much as the
whole rest of a hybrid search (bench: 14.7 ms with them, 9.1 ms without), and people reuse the same
words from one question to the next. A term's best score only changes when passages are written
(the IDF is computed from live corpus statistics), so the store clears this cache on every write of
its own, and entries expire after ``ttl_s`` for writes by another process sharing a Qdrant server.
A stale entry only shifts a coverage ratio, never which passages match.
"""

from __future__ import annotations

import time
from collections.abc import Sequence


class TermBestCache:
    """(term id, filter key) -> best BM25 score of that term alone; bounded, expiring, cleared on writes."""

    def __init__(self, ttl_s: float = 60.0, max_entries: int = 4096) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._entries: dict[tuple[int, str], tuple[float, float]] = {}  # key -> (score, expires at)

    def get(self, terms: Sequence[int], scope: str) -> list[float | None]:
        """The cached best score per term (None where unknown or expired)."""
        now = time.monotonic()
        out: list[float | None] = []
        for t in terms:
            hit = self._entries.get((t, scope))
            out.append(hit[0] if hit is not None and hit[1] > now else None)
        return out

    def put(self, terms: Sequence[int], scores: Sequence[float], scope: str) -> None:
        if len(self._entries) + len(terms) > self._max:
            self._entries.clear()  # simple bound: a full cache starts over rather than tracking age
        expires = time.monotonic() + self._ttl_s
        for t, s in zip(terms, scores, strict=True):
            self._entries[(t, scope)] = (s, expires)

    def clear(self) -> None:
        self._entries.clear()
