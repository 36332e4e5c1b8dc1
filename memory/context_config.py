"""Configuration of context assembly (``[memory.context]``); kept apart from :mod:`memory.context` so
loading the config imports no store code."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ContextConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    budget_tokens: int = Field(default=2000, ge=50, le=1_000_000, description="Token budget of a request's memory.")
    passages: int = Field(default=8, ge=0, le=100, description="Archival passages considered (top by hybrid search).")
    facts: int = Field(default=20, ge=0, le=500, description="Graph facts considered (about mentioned entities).")
    learnings: int = Field(default=5, ge=0, le=100, description="Learnings considered (top by BM25).")
    share_facts: float = Field(default=0.3, ge=0, le=1, description="Part of the non-core budget for facts.")
    share_learnings: float = Field(default=0.2, ge=0, le=1, description="Part of the non-core budget for learnings.")
    share_passages: float = Field(default=0.5, ge=0, le=1, description="Part of the non-core budget for passages.")
    chars_per_token: float = Field(default=3.5, gt=0, le=10, description="Token estimate: characters per token.")

    @model_validator(mode="after")
    def _shares(self) -> ContextConfig:
        total = self.share_facts + self.share_learnings + self.share_passages
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"share_facts + share_learnings + share_passages must be 1.0, got {total:g}")
        return self
