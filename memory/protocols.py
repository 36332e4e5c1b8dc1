"""The seams of the memory layer: data models and the Protocols every backend implements.

Five parts, each behind a small :class:`typing.Protocol`:

- :class:`CoreMemory` — Letta-style blocks always in the prompt (native store or a Letta server).
- :class:`ArchivalStore` — passages with hybrid (vector + BM25, reciprocal-rank fused) search.
- :class:`Embedder` — text -> vectors (local MiniLM or an OpenAI-compatible ``/v1/embeddings``).
- :class:`GraphStore` — a temporal knowledge graph (entities with aliases, relations with validity).
- :class:`Learnings` — an append-only log of insights with stable, citable ids.

Conventions shared by every implementation:

- Every method that touches storage or the network is ``async``; blocking libraries run in a thread.
- Every datetime is timezone-aware (UTC when the caller gives none; naive input is rejected).
- Ids are strings. Errors come from :mod:`memory.errors` (library errors translated at the boundary).
- Bulk export is paged with an opaque cursor (``export_page``): stateless, so it works the same
  in-process and through the bus service. :func:`iter_pages` turns a pager into an async iterator.
- Import (``import_*``) writes records verbatim (ids, times, validity kept) and is used only by
  restore into an empty store.
- Remote clients (:mod:`memory.client`) implement the same Protocols over ``hydra.memory.*``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(_Model, Generic[T]):
    """One page of an export. ``next_cursor`` is None on the last page."""

    items: list[T]
    next_cursor: str | None = None


async def iter_pages(
    fetch: Callable[[str | None, int], Awaitable[Page[T]]], page_size: int = 256
) -> AsyncIterator[T]:
    """Iterate every item of a paged export: ``async for p in iter_pages(store.export_page): ...``."""
    cursor: str | None = None
    while True:
        page = await fetch(cursor, page_size)
        for item in page.items:
            yield item
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


# --------------------------------------------------------------------------------------------
# Core memory
# --------------------------------------------------------------------------------------------

BlockOp = Literal["create", "append", "replace", "rewrite", "import"]


class BlockEdit(_Model):
    """One entry of a block's edit history (oldest first). ``value`` is the block after the edit."""

    at: AwareDatetime
    op: BlockOp
    value: str
    old: str | None = Field(default=None, description="replace: the text that was replaced")
    new: str | None = Field(default=None, description="append/replace: the text that was added")


class Block(_Model):
    """A core-memory block. ``limit`` is in characters; ``len(value) <= limit`` always holds."""

    label: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="e.g. persona, owner, projects")
    value: str = ""
    limit: int = Field(default=2000, ge=1, le=100_000)
    description: str = ""
    read_only: bool = False
    updated_at: AwareDatetime = Field(default_factory=utcnow)


@runtime_checkable
class CoreMemory(Protocol):
    """Letta-style core blocks. Edits validate, then persist atomically, then record history.

    Errors: unknown label -> MemoryNotFoundError; read-only block, replace text absent (the message
    quotes it), or label already taken -> BlockEditError; result longer than the limit ->
    BlockLimitError saying how many characters to trim.
    """

    async def list_blocks(self) -> list[Block]:
        """All blocks, sorted by label."""
        ...

    async def get_block(self, label: str) -> Block: ...

    async def create_block(self, block: Block) -> Block: ...

    async def append(self, label: str, text: str) -> Block:
        """Append ``text`` on a new line (no separator when the block is empty)."""
        ...

    async def replace(self, label: str, old: str, new: str) -> Block:
        """Replace the first exact occurrence of ``old`` with ``new``."""
        ...

    async def rewrite(self, label: str, value: str) -> Block: ...

    async def history(self, label: str) -> list[BlockEdit]:
        """Every edit of the block, oldest first (the first is its ``create``)."""
        ...

    async def import_block(self, block: Block, history: Sequence[BlockEdit]) -> None:
        """Restore a block with its history verbatim (backup import)."""
        ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------------------------
# Embeddings
# --------------------------------------------------------------------------------------------


@runtime_checkable
class Embedder(Protocol):
    """Text -> unit-length vectors. ``model`` names the model (stores record it); ``dim`` its size."""

    @property
    def model(self) -> str: ...

    @property
    def dim(self) -> int: ...

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order. Empty input -> empty output."""
        ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------------------------
# Archival memory
# --------------------------------------------------------------------------------------------


class Role(StrEnum):
    """Who said a conversation passage. An assistant turn is linked to the owner turn it answers
    (``Passage.reply_to``); search credits the reply's rank to that owner turn, and ranks a reply that
    only restates it (``Passage.echo``) lower."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class PassageIn(_Model):
    """A passage to store. ``id`` is assigned by the store unless given (import, idempotent writes).

    ``created_at`` is when it was said (a conversation turn: the session's time); search reads dates
    in a query ("on December 26th", "last week") against it. ``role``: who said it, for chat turns."""

    text: str = Field(min_length=1)
    source: str = Field(
        default="conversation", description="who/what produced it: conversation, research:<id>, ..."
    )
    tags: list[str] = Field(default_factory=list)
    session: str | None = None
    created_at: AwareDatetime = Field(default_factory=utcnow)
    id: str | None = None
    role: Role | None = Field(default=None, description="chat turns: user, assistant or system; None otherwise")


class Passage(_Model):
    """A stored passage. ``vector`` is filled only where asked (export)."""

    id: str
    text: str
    source: str
    tags: list[str] = Field(default_factory=list)
    session: str | None = None
    created_at: AwareDatetime
    embedding_model: str = Field(description="the model whose vector the store holds for this passage")
    near_duplicate_of: str | None = Field(
        default=None, description="id of an earlier passage this one nearly repeats (linked, not multiplied)"
    )
    vector: list[float] | None = None
    # optional, so passages stored or exported before these fields existed still load
    role: Role | None = Field(default=None, description="chat turns: who said it")
    reply_to: str | None = Field(
        default=None, description="assistant turns: id of the owner turn of the same session it answers"
    )
    echo: bool = Field(default=False, description="assistant turns: it mostly restates the owner turn it answers")


class AddResult(_Model):
    """What happened to one added passage.

    ``added``: stored as new. ``duplicate``: the exact same text was already stored; ``id`` is the
    existing passage. ``linked``: a near-duplicate of ``linked_to``; how it is kept is the backend's
    choice, but search returns the group once.
    """

    id: str
    status: Literal["added", "duplicate", "linked"]
    linked_to: str | None = None


class SearchFilters(_Model):
    """All given conditions must hold. ``tags``: the passage carries every one. Time: since <= t < until."""

    tags: list[str] = Field(default_factory=list)
    source: str | None = None
    session: str | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    role: Role | None = Field(default=None, description="only passages said by this role")


SearchMode = Literal["hybrid", "vector", "bm25"]


class SearchHit(_Model):
    """One result. ``score`` is the fused (or single-method) score, higher is better; ranks are 1-based."""

    passage: Passage
    score: float
    vector_rank: int | None = None
    bm25_rank: int | None = None
    update_of: str | None = Field(
        default=None,
        description="hybrid: id of an older passage on the same topic this newer one was ranked just above",
    )


class OptimiseOutcome(StrEnum):
    """How one ``ArchivalStore.optimize()`` call ended."""

    COMPLETED = "completed"  # ran to the end (or the engine has nothing to drive)
    YIELDED = "yielded"  # ended early because the owner read or wrote meanwhile; it runs again later
    DEFERRED = "deferred"  # not started: the store was used within ``quiet_s``
    SCHEDULED = "scheduled"  # a remote store: the memory node runs it in its own time


@runtime_checkable
class ArchivalStore(Protocol):
    """Passages with hybrid search.

    Queries embed with the store's embedder; if the store's vectors were built with another model,
    ``search``/``add`` raise EmbeddingModelMismatchError naming both models and ``hydra memory reindex``.
    """

    @property
    def embedding_model(self) -> str:
        """The model the stored vectors come from (the embedder's model for an empty store)."""
        ...

    async def add(self, passages: list[PassageIn]) -> list[AddResult]:
        """Store passages (embedding them); one result per input, in order."""
        ...

    async def search(
        self,
        query: str,
        *,
        limit: int = 10,
        filters: SearchFilters | None = None,
        mode: SearchMode = "hybrid",
        asked_at: datetime | None = None,
    ) -> list[SearchHit]:
        """Best first. ``hybrid`` fuses vector and BM25 rankings (and, when the query names a date or
        period, the passages of that time). ``asked_at`` (default: now) is what relative dates in the
        query ("last week", "in March") are read against."""
        ...

    async def get(self, passage_id: str) -> Passage:
        """Raises MemoryNotFoundError."""
        ...

    async def count(self) -> int: ...

    async def reindex(
        self, embedder: Embedder, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Re-embed every passage with ``embedder``, which becomes the store's embedder; returns the count.
        ``progress(done, total)`` is called as batches complete."""
        ...

    async def optimize(self, quiet_s: float = 0.0) -> OptimiseOutcome:
        """Index housekeeping; the daemon calls it in the background, never the query path. It gives way
        to the owner: with ``quiet_s`` it starts only if no read or write came for that long, and a read
        or write that arrives while it runs ends it (:class:`OptimiseOutcome`)."""
        ...

    async def export_page(self, cursor: str | None, limit: int) -> Page[Passage]:
        """Passages in a stable order, with ``vector`` filled."""
        ...

    async def import_passages(self, passages: list[Passage]) -> None:
        """Write passages verbatim (ids kept). Vectors from the store's model are used as they are;
        missing vectors or another model's vectors are re-embedded."""
        ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------------------------
# Knowledge graph
# --------------------------------------------------------------------------------------------


class Entity(_Model):
    """One node of the graph. ``name`` is canonical and unique (case-insensitive); aliases resolve to it."""

    name: str = Field(min_length=1)
    type: str = Field(default="thing", description="person, project, tool, place, topic, ...")
    aliases: list[str] = Field(default_factory=list)
    properties: dict[str, Any] = Field(default_factory=dict)


class RelationIn(_Model):
    """A fact to assert: ``subject --type--> object``. Names may be aliases; unknown names create entities.

    ``single_valued``: a subject holds at most one current fact of this type, so a new object closes
    the current fact (its ``valid_to`` = this ``valid_from``) instead of deleting it. None means: as the
    store's configured single-valued types say. Re-asserting the current fact changes nothing.
    """

    subject: str = Field(min_length=1)
    type: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="e.g. prefers_editor, works_on")
    object: str = Field(min_length=1)
    subject_type: str | None = None
    object_type: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    valid_from: AwareDatetime = Field(default_factory=utcnow)
    valid_to: AwareDatetime | None = None
    source: str | None = Field(default=None, description="provenance, e.g. the passage id it came from")
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    single_valued: bool | None = None


class Relation(_Model):
    """A stored fact; ``subject``/``object`` are canonical entity names; current while valid_to is None."""

    id: str
    subject: str
    type: str
    object: str
    properties: dict[str, Any] = Field(default_factory=dict)
    valid_from: AwareDatetime
    valid_to: AwareDatetime | None = None
    source: str | None = None
    confidence: float = 1.0

    def valid_at(self, t: datetime) -> bool:
        return self.valid_from <= t and (self.valid_to is None or t < self.valid_to)


class Neighbour(_Model):
    """An entity within ``distance`` hops of the start; ``via``: relation types along one shortest path."""

    entity: Entity
    distance: int
    via: list[str] = Field(default_factory=list)


class GraphRecord(_Model):
    """One line of a graph export: exactly one of ``entity``/``relation`` is set."""

    entity: Entity | None = None
    relation: Relation | None = None


@runtime_checkable
class GraphStore(Protocol):
    """A temporal knowledge graph. Unknown entity names in queries raise MemoryNotFoundError."""

    async def upsert_entity(self, entity: Entity) -> Entity:
        """Create, or merge into the entity the name/aliases resolve to (aliases unioned, type/properties
        updated when given). Returns the stored entity."""
        ...

    async def resolve(self, name: str) -> Entity | None:
        """The entity a name or alias refers to (case-insensitive), or None."""
        ...

    async def upsert_relation(self, relation: RelationIn) -> Relation:
        """Assert a fact (see :class:`RelationIn` for single-valued types). Returns the current fact."""
        ...

    async def facts_about(self, entity: str, at: datetime | None = None) -> list[Relation]:
        """Facts where the entity is subject or object: all of them (history included) when ``at`` is
        None, else those valid at ``at``. Sorted by valid_from, then id."""
        ...

    async def neighbours(self, entity: str, depth: int = 2) -> list[Neighbour]:
        """Entities within ``depth`` (1-3) hops over currently valid facts, nearest first, then by name."""
        ...

    async def facts_valid_at(self, t: datetime) -> list[Relation]:
        """Every fact valid at ``t``, sorted by valid_from, then id."""
        ...

    async def counts(self) -> dict[str, int]:
        """``{"entities": n, "relations": m}``."""
        ...

    async def export_page(self, cursor: str | None, limit: int) -> Page[GraphRecord]:
        """All entities first, then all relations (closed ones included), in a stable order."""
        ...

    async def import_records(self, records: list[GraphRecord]) -> None:
        """Write entities and relations verbatim (ids and validity kept). Entities come before the
        relations that use them."""
        ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------------------------
# Learnings
# --------------------------------------------------------------------------------------------


class LearningIn(_Model):
    """A new learning: what happened (context), what was learned, and how to apply it next time."""

    context: str = Field(min_length=1)
    learning: str = Field(min_length=1)
    apply: str = Field(default="", description="how to apply it next time")
    tags: list[str] = Field(default_factory=list)
    source: str | None = Field(default=None, description="e.g. task id, incident id")


class Learning(LearningIn):
    """A stored learning. ``id`` (``L-0001``, ...) is stable and what the briefing cites."""

    id: str = Field(pattern=r"^L-\d{4,}$")
    date: AwareDatetime


@runtime_checkable
class Learnings(Protocol):
    """Append-only: entries are never edited or removed."""

    async def add(self, entry: LearningIn) -> Learning: ...

    async def get(self, learning_id: str) -> Learning:
        """Raises MemoryNotFoundError."""
        ...

    async def list_learnings(
        self, *, since: datetime | None = None, limit: int | None = None
    ) -> list[Learning]:
        """Oldest first; ``limit`` keeps the newest ``limit`` entries."""
        ...

    async def search(self, query: str, limit: int = 5) -> list[Learning]:
        """Best match first (lexical relevance over context, learning, apply and tags)."""
        ...

    async def export_page(self, cursor: str | None, limit: int) -> Page[Learning]: ...

    async def import_learnings(self, entries: list[Learning]) -> None:
        """Write entries verbatim (ids and dates kept)."""
        ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------------------------
# The stack
# --------------------------------------------------------------------------------------------


@dataclass
class MemoryStack:
    """The four stores one caller works with: local on the memory node, bus clients elsewhere."""

    core: CoreMemory
    archival: ArchivalStore
    graph: GraphStore
    learnings: Learnings

    async def close(self) -> None:
        for part in (self.core, self.archival, self.graph, self.learnings):
            await part.close()
