"""Configuration of the knowledge graph."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_SINGLE_VALUED = [
    "prefers_editor",
    "prefers_shell",
    "prefers_language",
    "lives_in",
    "works_at",
    "role",
    "status",
    "birthday",
    "primary_gpu",
    "current_project",
]


class GraphConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    backend: Literal["ladybug", "neo4j"] = Field(
        default="ladybug", description="ladybug: embedded graph database in the state dir; neo4j: a Neo4j server."
    )
    path: Path | None = Field(
        default=None, description="ladybug: database file; default <state_dir>/memory/graph.lbug."
    )
    url: str | None = Field(default=None, description="neo4j: bolt URL, e.g. neo4j://host:7687.")
    user: str = Field(default="neo4j", description="neo4j: user name.")
    password_file: Path | None = Field(default=None, description="neo4j: file holding the password.")
    database: str | None = Field(default=None, description="neo4j: database name (server default when unset).")
    single_valued: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SINGLE_VALUED),
        description="Relation types a subject holds at most one current value of; a new value closes the old fact.",
    )
    buffer_pool_mb: int = Field(default=256, ge=16, le=65536, description="ladybug: buffer pool size in MiB.")
    min_free_mb: int = Field(
        default=64, ge=0, le=1_000_000,
        description="ladybug: free space (MiB) its filesystem must keep; below it writes are refused, because "
        "a write that hits a full disk leaves a torn WAL that keeps the graph from opening.",
    )

    @model_validator(mode="after")
    def _check_backend(self) -> GraphConfig:
        if self.backend == "neo4j" and not self.url:
            raise ValueError("memory graph url: required when backend is 'neo4j' (e.g. neo4j://host:7687)")
        return self
