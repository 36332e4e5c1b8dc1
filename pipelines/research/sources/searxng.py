"""SearXNG's JSON API: ``GET /search?q=...&format=json`` (the instance must allow the json format)."""

from __future__ import annotations

import httpx

from pipelines.research.errors import SourceError
from pipelines.research.model import Hit
from pipelines.research.sources.base import get


class SearxngSource:
    name = "searxng"

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.http = http
        self.url = base_url.rstrip("/") + "/search"

    async def search(self, query: str, limit: int) -> list[Hit]:
        r = await get(self.http, self.url, "SearXNG", params={"q": query, "format": "json"})
        try:
            results = r.json()["results"]
        except (ValueError, KeyError, TypeError):
            raise SourceError(f"SearXNG: {self.url} sent no JSON results (is format=json enabled?)") from None
        hits = []
        for item in results:
            if not isinstance(item, dict) or not item.get("url"):
                continue
            hits.append(Hit(url=str(item["url"]), title=str(item.get("title") or item["url"]),
                            snippet=str(item.get("content") or ""), source=self.name, query=query,
                            published=item.get("publishedDate") or None))
            if len(hits) >= limit:
                break
        return hits
