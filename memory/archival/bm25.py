"""BM25 as Qdrant does it: sparse vectors with the IDF modifier.

Why not a separate BM25 library (bm25s, rank-bm25)? Those keep a second index beside Qdrant, which
would have to be persisted, filtered (tags/source/time) and kept in step on every write and
reindex. Qdrant's own recipe keeps one index: each passage carries a sparse vector of BM25
term-frequency weights (k1, b, average length) computed by Qdrant's BM25 model
(``qdrant_edge.Bm25``, the same tokenizer, English stopwords and Snowball stemmer as the
server-side ``Qdrant/bm25`` inference), and the collection's ``Modifier.Idf`` multiplies in the
inverse document frequency at query time, from live corpus statistics. Queries are the unique
query terms with weight 1. Filters apply to the BM25 side exactly as to the vector side.

Both backends (embedded and server) use this encoder, so their rankings agree.
"""

from __future__ import annotations

from typing import Any


class Bm25Encoder:
    """Text -> (indices, values) sparse vectors for documents and queries."""

    def __init__(self, avg_len: float = 24.0, k: float = 1.2, b: float = 0.75) -> None:
        import qdrant_edge as qe  # lazy: importers (learnings, wiring) stay light

        self._model: Any = qe.Bm25(qe.Bm25Config(k=k, b=b, avg_len=avg_len, language="english"))

    def document(self, text: str) -> tuple[list[int], list[float]]:
        sv = self._model.embed_document(text)
        return list(sv.indices), list(sv.values)

    def query(self, text: str) -> tuple[list[int], list[float]]:
        sv = self._model.embed_query(text)
        return list(sv.indices), list(sv.values)
