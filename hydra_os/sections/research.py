"""``[intake.research]``: where the research pipeline looks, and how much it reads."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hydra_os.durations import Seconds

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def _http(v: str | None) -> str | None:
    if v is not None and not v.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s) URL, got {v!r}")
    return v


class ResearchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    searxng_url: str | None = Field(
        default=None, description="SearXNG base URL (its JSON API, format=json, must be enabled). Unset: off."
    )
    arxiv_url: str | None = Field(
        default="https://export.arxiv.org/api/query", description="arXiv API query URL (Atom). Unset: off."
    )
    feeds: list[str] = Field(default_factory=list, description="RSS/Atom feed URLs to search.")
    github_repos: list[str] = Field(default_factory=list, description="owner/name repositories whose releases count.")
    github_api_url: str = Field(default="https://api.github.com", description="GitHub REST API base URL.")
    github_token_file: Path | None = Field(default=None, description="GitHub token file (raises the rate limit).")
    local_dirs: list[Path] = Field(
        default_factory=list, description="Folders of documents (.md, .txt, .html) searched by the pipeline."
    )
    max_queries: int = Field(default=4, ge=1, le=20, description="Search queries planned per topic.")
    per_source: int = Field(default=8, ge=1, le=100, description="Results kept per source and query.")
    max_fetch: int = Field(default=12, ge=0, le=200, description="Pages fetched and read per run.")
    max_cited: int = Field(default=10, ge=1, le=50, description="Sources the report cites at most.")
    fetch_timeout_s: Seconds = Field(default=15.0, description="Seconds per source request or page fetch.")
    max_page_bytes: int = Field(default=3_000_000, ge=10_000, description="Pages larger than this are cut.")
    concurrency: int = Field(default=4, ge=1, le=32, description="Fetches at once.")
    user_agent: str = Field(default="hydra-os-research/0.1", description="User-Agent of every request.")
    report_dir: Path | None = Field(
        default=None, description="Where reports are written; default <state_dir>/research."
    )

    @field_validator("searxng_url", "arxiv_url", "github_api_url")
    @classmethod
    def _urls(cls, v: str | None) -> str | None:
        return _http(v)

    @field_validator("feeds")
    @classmethod
    def _feeds(cls, v: list[str]) -> list[str]:
        for u in v:
            _http(u)
        return v

    @field_validator("github_repos")
    @classmethod
    def _repos(cls, v: list[str]) -> list[str]:
        for r in v:
            if not _REPO.match(r):
                raise ValueError(f"expected owner/name, got {r!r}")
        return v
