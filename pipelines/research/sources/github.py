"""GitHub releases (REST API ``/repos/{owner}/{repo}/releases``): release notes are the text."""

from __future__ import annotations

import asyncio

import httpx

from pipelines.research.errors import SourceError
from pipelines.research.model import Hit
from pipelines.research.sources.base import get, overlap


class GithubReleasesSource:
    name = "github"

    def __init__(self, http: httpx.AsyncClient, api_url: str, repos: list[str], token: str | None = None) -> None:
        self.http = http
        self.api = api_url.rstrip("/")
        self.repos = repos
        self.headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._cache: dict[str, list[Hit]] = {}
        self._lock = asyncio.Lock()
        self.errors: list[str] = []

    async def _releases(self, repo: str) -> list[Hit]:
        async with self._lock:
            if repo not in self._cache:
                try:
                    r = await get(self.http, f"{self.api}/repos/{repo}/releases", f"GitHub releases of {repo}",
                                  params={"per_page": 20}, headers=self.headers)
                    items = r.json()
                    if not isinstance(items, list):
                        raise SourceError(f"GitHub releases of {repo}: not a list of releases")
                except (SourceError, ValueError) as e:
                    self.errors.append(str(e))
                    self._cache[repo] = []
                    return []
                hits = []
                for rel in items:
                    if not isinstance(rel, dict) or rel.get("draft"):
                        continue
                    name = rel.get("name") or rel.get("tag_name") or "release"
                    body = str(rel.get("body") or "")
                    hits.append(Hit(url=str(rel.get("html_url") or f"https://github.com/{repo}/releases"),
                                    title=f"{repo} {name}", snippet=body[:400], source=self.name,
                                    published=rel.get("published_at") or None, text=f"{repo} {name}\n\n{body}"))
                self._cache[repo] = hits
            return self._cache[repo]

    async def search(self, query: str, limit: int) -> list[Hit]:
        scored = []
        for repo in self.repos:
            for h in await self._releases(repo):
                s = overlap(query, h.title, h.text or "", repo.replace("/", " ").replace("-", " "))
                if s > 0:
                    scored.append((s, h.model_copy(update={"query": query})))
        if not scored and self.errors and len(self.errors) >= len(self.repos):
            raise SourceError("; ".join(self.errors))
        scored.sort(key=lambda p: p[1].published or "", reverse=True)  # newest first among equals
        scored.sort(key=lambda p: -p[0])
        return [h for _, h in scored[:limit]]
