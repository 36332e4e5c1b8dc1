"""The parameters and results of the memory bus verbs (:mod:`memory.verbs`), one model per verb.

A request body is a params model as JSON; the field names are the wire's parameter names. Params
models ignore unknown fields, so a newer client's optional parameter reaches an older memory node
harmlessly (and the reverse). A bad parameter is a :class:`MemoryInputError` naming it, whether the
client builds the model or the memory node reads it. Results that are not already a
:mod:`memory.protocols` model get one here.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from memory.errors import MemoryInputError
from memory.protocols import (
    Block,
    BlockEdit,
    Entity,
    GraphRecord,
    Learning,
    LearningIn,
    Passage,
    PassageIn,
    RelationIn,
    SearchFilters,
    SearchMode,
)


def input_error(e: ValidationError) -> MemoryInputError:
    """The first problem, named by its parameter path: ``label: required parameter is missing``."""
    first = e.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "request body"
    if first["type"] == "missing" and len(first["loc"]) == 1:
        return MemoryInputError(f"{where}: required parameter is missing")
    return MemoryInputError(f"{where}: {first['msg']}")


class Params(BaseModel):
    """A verb's parameters. Built with a bad value (a naive datetime, a limit out of range), it raises
    the memory layer's input error, as the memory node would answer it."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise input_error(e) from None

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Self:
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            raise input_error(e) from None


class NoParams(Params):
    """A verb without parameters."""


class Label(Params):
    label: str


class CreateBlock(Params):
    block: Block


class AppendBlock(Params):
    label: str
    text: str


class ReplaceInBlock(Params):
    label: str
    old: str
    new: str


class RewriteBlock(Params):
    label: str
    value: str


class ImportBlock(Params):
    block: Block
    history: list[BlockEdit]


class AddPassages(Params):
    passages: list[PassageIn]


class SearchPassages(Params):
    query: str
    limit: int = 10
    filters: SearchFilters | None = None
    mode: SearchMode = "hybrid"
    asked_at: AwareDatetime | None = None


class ById(Params):
    id: str


class Reindex(Params):
    model: str | None = Field(default=None, description="the embedder model the caller expects the node to have")
    progress: str | None = Field(default=None, description="a subject to publish {done, total} on")


class ExportPage(Params):
    cursor: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class ImportPassages(Params):
    passages: list[Passage]


class UpsertEntity(Params):
    entity: Entity


class ByName(Params):
    name: str


class UpsertRelation(Params):
    relation: RelationIn


class FactsAbout(Params):
    entity: str
    at: AwareDatetime | None = None


class Neighbours(Params):
    entity: str
    depth: int = 2


class FactsValidAt(Params):
    t: AwareDatetime


class ImportRecords(Params):
    records: list[GraphRecord]


class AddLearning(Params):
    entry: LearningIn


class ListLearnings(Params):
    since: AwareDatetime | None = None
    limit: int | None = None


class SearchLearnings(Params):
    query: str
    limit: int = 5


class ImportLearnings(Params):
    entries: list[Learning]


class Hello(BaseModel):
    """The handshake: what a client needs to know about the memory node, nothing it must count."""

    node: str
    embedding_model: str


class Info(Hello):
    """The memory node's full report (``hydra memory info``): counts every store, so not a handshake."""

    configured_embedder: str | None
    stores: dict[str, Any]
    optimisation: str | None = None  # the archival index optimiser's state (BackgroundOptimizer.summary)
    passages: int | None
    graph: dict[str, int] | None
    learnings: int | None
    blocks: list[str] | None


class Reindexed(BaseModel):
    reindexed: int
    model: str


class Optimized(BaseModel):
    scheduled: bool = Field(description="True: the daemon's optimiser will run it; False: it ran in the request")
