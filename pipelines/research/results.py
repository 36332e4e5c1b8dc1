"""What each research step returns, typed. Checkpointed as ``model_dump(mode="json")``, which is the
shape the steps wrote as plain dicts before, so checkpoints of a task started by an older worker
still resume (``tests/pipelines/test_research_results.py`` holds both shapes to that)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from pipelines.research.model import Document, Hit


class Plan(BaseModel):
    topic: str
    queries: list[str]
    planned_by: Literal["model", "rules"]


class Gathered(BaseModel):
    hits: list[Hit]
    per_source: dict[str, int] = Field(description="hits per source name")
    errors: list[str] = Field(description="what the sources said when they failed, without repeats")


class FetchFailure(BaseModel):
    url: str
    error: str | None


class Fetched(BaseModel):
    documents: list[Document]
    fetched: int
    failed: list[FetchFailure]


class Ranked(BaseModel):
    sources: list[Document]


class NamedEntity(BaseModel):
    name: str
    type: str


class Synthesis(BaseModel):
    """The report (:func:`pipelines.research.synth.synthesise`); ``reason`` says why it is not ``done``."""

    status: Literal["done", "pending-model", "no-sources"]
    summary: str
    markdown: str
    entities: list[NamedEntity] = Field(default_factory=list)
    reason: str | None = None
    cited: list[int] = Field(default_factory=list)
    removed_citations: int = 0


class Stored(BaseModel):
    report_path: str
    node: str
    passages: int
    new_passages: int
    entities: int


@dataclass(frozen=True)
class Done:
    """The results of the steps that finished before this one (the runner's dict, JSON round-tripped)."""

    raw: dict[str, Any]

    @property
    def plan(self) -> Plan:
        return Plan.model_validate(self.raw["plan"])

    @property
    def gathered(self) -> Gathered:
        return Gathered.model_validate(self.raw["gather"])

    @property
    def fetched(self) -> Fetched:
        return Fetched.model_validate(self.raw["fetch"])

    @property
    def ranked(self) -> Ranked:
        return Ranked.model_validate(self.raw["rank"])

    @property
    def synthesis(self) -> Synthesis:
        return Synthesis.model_validate(self.raw["synthesise"])

    @property
    def stored(self) -> Stored:
        return Stored.model_validate(self.raw["store"])
