"""A Qdrant server through ``qdrant-client`` (also its local mode: ``:memory:`` or ``path:<dir>``).

The collection name the store uses (``collection``) is an alias; the data lives in
``<collection>-g<generation>`` whose collection ``metadata`` records the embedding model and
dimension. A reindex fills the next generation and swaps the alias in one ``update_collection_aliases``
call, then deletes the old collection.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from memory.archival.engine import (
    DENSE,
    INDEXED_DATETIMES,
    INDEXED_KEYWORDS,
    SPARSE,
    Found,
    PointData,
    StoreMeta,
    TimeField,
)
from memory.errors import MemoryBackendError
from memory.protocols import OptimiseOutcome, SearchFilters

_ERRORS = (UnexpectedResponse, ResponseHandlingException, ValueError, OSError)


def client_filter(
    filters: SearchFilters | None, canonical_only: bool, time_field: TimeField = "created_at"
) -> models.Filter | None:
    must: list[models.Condition] = []
    if canonical_only:
        must.append(models.FieldCondition(key="dup", match=models.MatchValue(value="canonical")))
    if filters is not None:
        must.extend(models.FieldCondition(key="tags", match=models.MatchValue(value=t)) for t in filters.tags)
        if filters.source is not None:
            must.append(models.FieldCondition(key="source", match=models.MatchValue(value=filters.source)))
        if filters.session is not None:
            must.append(models.FieldCondition(key="session", match=models.MatchValue(value=filters.session)))
        if filters.role is not None:
            must.append(models.FieldCondition(key="role", match=models.MatchValue(value=str(filters.role))))
        if filters.since is not None or filters.until is not None:
            must.append(
                models.FieldCondition(key=time_field, range=models.DatetimeRange(gte=filters.since, lt=filters.until))
            )
    return models.Filter(must=must) if must else None


def _found(p: Any, with_vectors: bool) -> Found:
    dense = sparse = None
    if with_vectors and isinstance(p.vector, dict):
        d = p.vector.get(DENSE)
        dense = [float(x) for x in d] if d is not None else None
        s = p.vector.get(SPARSE)
        sparse = (list(s.indices), list(s.values)) if s is not None else None
    return Found(str(p.id), float(getattr(p, "score", 0.0) or 0.0), dict(p.payload or {}), dense, sparse)


def make_client(url: str, api_key: str | None = None) -> QdrantClient:
    """``:memory:`` and ``path:<dir>`` use qdrant-client's local mode; anything else is a server URL."""
    if url == ":memory:":
        return QdrantClient(location=":memory:")
    if url.startswith("path:"):
        return QdrantClient(path=str(Path(url[5:])))
    return QdrantClient(url=url, api_key=api_key, timeout=30)


class ServerEngine:
    def __init__(self, client: QdrantClient, alias: str) -> None:
        self._client = client
        self._alias = alias
        self._next: StoreMeta | None = None
        self.meta: StoreMeta | None = None
        try:
            self._load_meta()
        except _ERRORS as err:
            raise MemoryBackendError(f"archival store (qdrant {alias}): cannot open: {err}") from err

    def _physical(self, meta: StoreMeta) -> str:
        return f"{self._alias}-g{meta.generation}"

    def _load_meta(self) -> None:
        aliases = {a.alias_name: a.collection_name for a in self._client.get_aliases().aliases}
        target = aliases.get(self._alias)
        if target is None:
            return
        md = self._client.get_collection(target).config.metadata or {}
        self.meta = StoreMeta(str(md["embedding_model"]), int(md["dim"]), int(md["generation"]))

    def _create_collection(self, meta: StoreMeta) -> None:
        name = self._physical(meta)
        if self._client.collection_exists(name):
            self._client.delete_collection(name)
        self._client.create_collection(
            name,
            vectors_config={DENSE: models.VectorParams(size=meta.dim, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            metadata={"embedding_model": meta.embedding_model, "dim": meta.dim, "generation": meta.generation},
        )
        with warnings.catch_warnings():  # local mode warns that it scans instead; a server indexes
            warnings.simplefilter("ignore", UserWarning)
            for key in INDEXED_KEYWORDS:
                self._client.create_payload_index(name, key, models.PayloadSchemaType.KEYWORD)
            for key in INDEXED_DATETIMES:
                self._client.create_payload_index(name, key, models.PayloadSchemaType.DATETIME)

    def _point_alias(self, meta: StoreMeta) -> None:
        ops: list[Any] = []
        if self.meta is not None:
            ops.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=self._alias)))
        ops.append(
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=self._physical(meta), alias_name=self._alias)
            )
        )
        self._client.update_collection_aliases(change_aliases_operations=ops)

    def create(self, meta: StoreMeta) -> None:
        try:
            self._create_collection(meta)
            self._point_alias(meta)
        except _ERRORS as err:
            raise MemoryBackendError(f"archival store (qdrant {self._alias}): cannot create: {err}") from err
        self.meta = meta

    def begin_generation(self, meta: StoreMeta) -> None:
        self._create_collection(meta)
        self._next = meta

    def upsert_next(self, points: list[PointData]) -> None:
        assert self._next is not None
        self._client.upsert(self._physical(self._next), [self._point(p) for p in points], wait=True)

    def commit_generation(self) -> None:
        assert self._next is not None
        old, new = self.meta, self._next
        self._point_alias(new)
        self.meta, self._next = new, None
        if old is not None:
            self._client.delete_collection(self._physical(old))

    def abort_generation(self) -> None:
        if self._next is not None:
            self._client.delete_collection(self._physical(self._next))
            self._next = None

    @staticmethod
    def _point(p: PointData) -> models.PointStruct:
        return models.PointStruct(
            id=p.id,
            vector={DENSE: p.dense, SPARSE: models.SparseVector(indices=p.sparse[0], values=p.sparse[1])},
            payload=p.payload,
        )

    def upsert(self, points: list[PointData]) -> None:
        try:
            self._client.upsert(self._alias, [self._point(p) for p in points], wait=True)
        except _ERRORS as err:
            raise MemoryBackendError(f"archival store (qdrant {self._alias}): write failed: {err}") from err

    def query(
        self,
        using: Literal["dense", "bm25"],
        vectors: list[Any],
        limit: int,
        filters: SearchFilters | None,
        canonical_only: bool,
        fields: Sequence[str] | None = None,
        time_field: TimeField = "created_at",
    ) -> list[list[Found]]:
        flt = client_filter(filters, canonical_only, time_field)
        reqs = [
            models.QueryRequest(
                query=models.SparseVector(indices=v[0], values=v[1]) if using == SPARSE else v,
                using=using,
                limit=limit,
                filter=flt,
                with_payload=list(fields) if fields is not None else True,
            )
            for v in vectors
        ]
        try:
            res = self._client.query_batch_points(self._alias, reqs)
        except _ERRORS as err:
            raise MemoryBackendError(f"archival store (qdrant {self._alias}): query failed: {err}") from err
        return [[_found(p, False) for p in r.points] for r in res]

    def retrieve(self, ids: list[str], with_vectors: bool) -> list[Found]:
        vec: list[str] | bool = [DENSE] if with_vectors else False
        recs = self._client.retrieve(self._alias, ids, with_payload=True, with_vectors=vec)
        return [_found(r, with_vectors) for r in recs]

    def find_hashes(self, hashes: list[str]) -> dict[str, str]:
        if not hashes:
            return {}
        flt = models.Filter(must=[models.FieldCondition(key="text_hash", match=models.MatchAny(any=hashes))])
        recs, _ = self._client.scroll(
            self._alias, scroll_filter=flt, limit=len(hashes) * 2, with_payload=["text_hash", "pid"]
        )
        return {r.payload["text_hash"]: r.payload["pid"] for r in recs if r.payload}

    def count(self) -> int:
        return int(self._client.count(self._alias, exact=True).count)

    def scroll(self, offset: str | None, limit: int, with_vectors: bool) -> tuple[list[Found], str | None]:
        recs, nxt = self._client.scroll(
            self._alias, offset=offset, limit=limit, with_payload=True, with_vectors=with_vectors
        )
        return [_found(r, with_vectors) for r in recs], (str(nxt) if nxt is not None else None)

    def optimize(self, quiet_s: float = 0.0) -> OptimiseOutcome:
        # A Qdrant server optimises its segments on its own; nothing to drive from here.
        return OptimiseOutcome.COMPLETED

    def close(self) -> None:
        self._client.close()
