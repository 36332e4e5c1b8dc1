"""RSS and Atom feeds (feedparser): each feed is read once per run, entries matched to queries by their words."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from pipelines.research.errors import SourceError
from pipelines.research.model import Hit
from pipelines.research.sources.base import get, overlap, parse_feed


class FeedSource:
    name = "feed"

    def __init__(self, http: httpx.AsyncClient, urls: list[str]) -> None:
        self.http = http
        self.urls = urls
        self._entries: list[dict[str, Any]] | None = None
        self._lock = asyncio.Lock()
        self.errors: list[str] = []

    async def _load(self) -> list[dict[str, Any]]:
        async with self._lock:
            if self._entries is None:
                entries: list[dict[str, Any]] = []
                for url in self.urls:
                    try:
                        r = await get(self.http, url, "feed")
                    except SourceError as e:
                        self.errors.append(str(e))
                        continue
                    parsed = await asyncio.to_thread(parse_feed, r.content)
                    if parsed.bozo and not parsed.entries:
                        self.errors.append(f"feed: {url} is not RSS or Atom")
                        continue
                    entries.extend(dict(e) for e in parsed.entries)
                self._entries = entries
                if not entries and self.errors:
                    raise SourceError("; ".join(self.errors))
            return self._entries

    async def search(self, query: str, limit: int) -> list[Hit]:
        scored = []
        for e in await self._load():
            title = " ".join(str(e.get("title", "")).split())
            summary = " ".join(str(e.get("summary", "")).split())
            s = overlap(query, title, summary)
            if s > 0 and e.get("link"):
                scored.append((s, Hit(url=str(e["link"]), title=title or str(e["link"]), snippet=summary[:400],
                                      source=self.name, query=query,
                                      published=e.get("published") or e.get("updated") or None)))
        scored.sort(key=lambda p: -p[0])
        return [h for _, h in scored[:limit]]
