"""The small, synchronous seam between the archival store and a Qdrant flavour.

:class:`memory.archival.store.QdrantArchivalStore` holds all the logic (dedup, linking, fusion,
model checks, reindex) and calls an :class:`Engine` from worker threads. Two engines exist:
embedded ``qdrant-edge-py`` (:mod:`memory.archival.edge`) and ``qdrant-client``
(:mod:`memory.archival.server`). Points carry a dense vector ``dense``, a sparse BM25 vector
``bm25`` and the payload below.

Payload keys: ``pid`` (passage id), ``text``, ``source``, ``tags``, ``session``, ``created_at``
(RFC 3339, UTC), ``text_hash``, ``dup`` (``canonical``, or ``linked`` for a near-duplicate hidden from search; a
keyword rather than a bool because qdrant-edge-py 0.9 matches nothing for a bool ``MatchValue``),
``near_duplicate_of``, ``embedding_model``, ``named_days`` (RFC 3339 UTC midnights of the days the text names,
:mod:`memory.archival.named`); and for chat turns ``role`` (user/assistant/system), ``reply_to``
(the owner turn an assistant turn answers) and ``echo`` (it mostly restates it). Passages written before these
existed lack them and read as None / False.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from memory.protocols import OptimiseOutcome, SearchFilters

INDEXED_KEYWORDS = ("pid", "source", "tags", "session", "text_hash", "dup", "role")
INDEXED_DATETIMES = ("created_at", "named_days")
TimeField = Literal["created_at", "named_days"]
"""Which time ``SearchFilters.since``/``until`` bound: when a passage was said, or a day it names."""
DENSE = "dense"
SPARSE = "bm25"


@dataclass(frozen=True)
class StoreMeta:
    """What the vectors of one store generation were built with."""

    embedding_model: str
    dim: int
    generation: int = 1


@dataclass
class PointData:
    id: str  # a UUID string (see dedup.point_id)
    dense: list[float]
    sparse: tuple[list[int], list[float]]
    payload: dict[str, Any]


@dataclass
class Found:
    id: str
    score: float
    payload: dict[str, Any]
    dense: list[float] | None = None
    sparse: tuple[list[int], list[float]] | None = field(default=None)


class Engine(Protocol):
    """Synchronous Qdrant operations; the store calls them through ``asyncio.to_thread``."""

    meta: StoreMeta | None  # None until create() on an empty store

    def create(self, meta: StoreMeta) -> None: ...

    def upsert(self, points: list[PointData]) -> None: ...

    def query(
        self,
        using: Literal["dense", "bm25"],
        vectors: list[list[float] | tuple[list[int], list[float]]],
        limit: int,
        filters: SearchFilters | None,
        canonical_only: bool,
        fields: Sequence[str] | None = None,
        time_field: TimeField = "created_at",
    ) -> list[list[Found]]:
        """One best-first list per query vector (a batch); payloads hold only ``fields`` when given;
        ``filters.since``/``until`` bound ``time_field``."""
        ...

    def retrieve(self, ids: list[str], with_vectors: bool) -> list[Found]:
        """The points with these ids (missing ones left out); ``with_vectors``: the dense vector only."""
        ...

    def find_hashes(self, hashes: list[str]) -> dict[str, str]:
        """text_hash -> passage id for the hashes already stored."""
        ...

    def count(self) -> int: ...

    def scroll(self, offset: str | None, limit: int, with_vectors: bool) -> tuple[list[Found], str | None]: ...

    def optimize(self, quiet_s: float = 0.0) -> OptimiseOutcome:
        """Index housekeeping, giving way to reads and writes (:meth:`ArchivalStore.optimize`)."""
        ...

    def begin_generation(self, meta: StoreMeta) -> None:
        """Start an empty next generation (new vector size allowed); ``upsert_next`` fills it."""
        ...

    def upsert_next(self, points: list[PointData]) -> None: ...

    def commit_generation(self) -> None:
        """Atomically make the next generation current and drop the old one."""
        ...

    def abort_generation(self) -> None: ...

    def close(self) -> None: ...
