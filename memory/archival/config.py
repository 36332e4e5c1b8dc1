"""Configuration of the archival store (passages with hybrid search)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hydra_os.durations import SecondsOrZero


class ArchivalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    backend: Literal["edge", "qdrant"] = Field(
        default="edge",
        description="edge: embedded Qdrant (qdrant-edge-py) in the state dir; "
        "qdrant: a Qdrant server via qdrant-client.",
    )
    path: Path | None = Field(
        default=None, description="edge: directory of the store; default <state_dir>/memory/archival."
    )
    url: str | None = Field(
        default=None,
        description="qdrant: server URL (http://host:6333), "
        "or ':memory:' / 'path:<dir>' for qdrant-client's local mode.",
    )
    api_key_file: Path | None = Field(
        default=None, description="qdrant: file holding the API key, if the server needs one."
    )
    collection: str = Field(
        default="hydra_passages", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="qdrant: collection alias to use."
    )
    fusion: Literal["rrf", "convex"] = Field(
        default="rrf",
        description="Hybrid: how the rankings are fused: weighted reciprocal rank (rrf), or a weighted sum of each "
        "method's score divided by its best (convex; memory.archival.fusion.convex). bench/fusion_fit.py fits "
        "either's weights on the tuning set with cross-validation.",
    )
    rrf_k: int = Field(
        default=60, ge=1, le=1000, description="Reciprocal-rank-fusion constant k: score = sum 1/(k + rank)."
    )
    candidates: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Hybrid: how many hits each method contributes before fusion (at least limit).",
    )
    recency_weight: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Hybrid: weight of a newest-first ranking of the candidates in the fusion for queries with no "
        "temporal intent (0 = off, the default: on hand-written conversation a prior for every query costs single- "
        "and multi-hop recall; queries about the present use recency_weight_current).",
    )
    recency_weight_current: float = Field(
        default=1.0,
        ge=0.0,
        le=4.0,
        description="Hybrid: the recency weight used instead when the query asks about the present (\"current\", "
        "\"now\", \"these days\"; memory.archival.intent); a query about the past (\"used to\", \"before\") turns "
        "recency and update ordering off (bench/memory.py: knowledge-update ordering 0.93 -> 1.0).",
    )
    update_cosine: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="Hybrid: two retrieved exchanges (an owner turn and the assistant's replies; any other passage "
        "alone) from one source at least this similar (cosine of their mean vectors) are about the same thing, and "
        "the newer is ranked just above the older (knowledge updates; memory.archival.updates); 1.0 = nearly off.",
    )
    update_cosine_current: float = Field(
        default=0.45,
        gt=0.0,
        le=1.0,
        description="Hybrid: update_cosine for queries about the present (\"these days\", \"now\"; "
        "memory.archival.intent), which ask for the newest statement on their topic. Compared as wholes (an owner "
        "turn and the assistant's replies), 7 of the tuning set's 10 real update pairs are this similar "
        "(0.39-0.79) and 2% of all its pairs of exchanges.",
    )
    update_margin: float = Field(
        default=0.1,
        ge=0.0,
        le=2.0,
        description="Hybrid: a newer passage is ranked above an older same-topic one only if its cosine to the query "
        "is at most this much lower.",
    )
    update_window: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="Hybrid: how many top fused hits (at least 2 x limit) are checked for knowledge updates.",
    )
    bm25_weight: float = Field(
        default=0.5,
        ge=0.0,
        le=4.0,
        description="Hybrid: weight of the BM25 ranking in the fusion (the vector ranking has weight 1).",
    )
    bm25_coverage: bool = Field(
        default=True,
        description="Hybrid: scale each BM25 hit's vote by the share of the query's (IDF-weighted) words it "
        "matches (memory.archival.fusion.lexical_coverage), so partial matches on common words barely count.",
    )
    hop_weight: float = Field(
        default=0.5,
        ge=0.0,
        le=4.0,
        description="Hybrid: weight of a second BM25 ranking whose query is the words of the best "
        "``hop_from`` fused hits that the query does not have (a second hop: \"the company Lena works for\" finds "
        "\"Lena joined Cobalt Games\", the second hop \"Cobalt Games has its headquarters in Oslo\"); 0 = off.",
    )
    hop_from: int = Field(default=2, ge=1, le=10, description="Hybrid: how many top hits seed the second hop.")
    time_weight: float = Field(
        default=2.0,
        ge=0.0,
        le=8.0,
        description="Hybrid: weight of the ranking of passages inside the dates or periods the query names "
        "(\"on December 26th\", \"last week\"; memory.archival.when); 0 = off.",
    )
    echo_cosine: float = Field(
        default=0.4,
        gt=0.0,
        le=1.0,
        description="An assistant turn at least this similar (cosine) to the owner turn it answers is stored as an "
        "echo of it (Passage.echo); 1.0 = nearly off.",
    )
    echo_window_s: SecondsOrZero = Field(
        default=900.0,
        description="How far back (seconds) the owner turn an assistant turn answers may be (Passage.reply_to).",
    )
    echo_weight: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Hybrid: a reply's fused score is credited to the owner turn it answers; an echo's own is "
        "multiplied by this (1.0 = echoes rank as their words earn).",
    )
    bm25_avg_len: float = Field(
        default=24.0,
        gt=0,
        description="BM25 length normalisation: expected passage length in tokens (after stopwords).",
    )
    near_duplicate_cosine: float = Field(
        default=0.95,
        gt=0.0,
        le=1.0,
        description="A passage this close (cosine) to a stored one may be a near-duplicate.",
    )
    near_duplicate_jaccard: float = Field(
        default=0.9,
        gt=0.0,
        le=1.0,
        description="...and only if its word sets overlap this much (Jaccard), so a changed fact is never folded away.",
    )
    batch_size: int = Field(default=256, ge=1, le=10_000, description="Passages embedded and written per batch.")
    min_free_mb: int = Field(
        default=256, ge=0, le=1_000_000,
        description="edge: free space (MiB) its filesystem must keep; below it the store refuses writes and opening, "
        "because qdrant-edge writes through memory maps (32 MiB vector chunks and WAL segments) and a full disk "
        "kills the process with SIGBUS instead of raising an error.",
    )

    @model_validator(mode="after")
    def _check_backend(self) -> ArchivalConfig:
        if self.backend == "qdrant" and not self.url:
            raise ValueError("memory archival url: required when backend is 'qdrant' (http://host:6333 or :memory:)")
        return self
