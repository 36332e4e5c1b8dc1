"""arXiv's API (Atom): ``GET /api/query?search_query=all:a AND all:b&max_results=N``; abstracts are the text."""

from __future__ import annotations

import asyncio

import httpx

from pipelines.research.model import Hit, terms
from pipelines.research.sources.base import get, parse_feed


class ArxivSource:
    name = "arxiv"

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url

    async def search(self, query: str, limit: int) -> list[Hit]:
        words = terms(query)[:6] or [query]
        q = " AND ".join(f"all:{w}" for w in words)
        r = await get(self.http, self.url, "arXiv", params={
            "search_query": q, "start": 0, "max_results": limit, "sortBy": "submittedDate", "sortOrder": "descending"})
        feed = await asyncio.to_thread(parse_feed, r.content)
        hits = []
        for e in feed.entries[:limit]:
            link = str(e.get("link") or e.get("id") or "")
            if not link:
                continue
            abstract = " ".join(str(e.get("summary", "")).split())
            hits.append(Hit(url=link, title=" ".join(str(e.get("title", link)).split()), snippet=abstract[:400],
                            source=self.name, query=query, published=e.get("published") or None,
                            text=abstract or None))
        return hits
