"""The source seam, and the shared HTTP client every source and the fetcher use."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import httpx

from pipelines.research.errors import SourceError
from pipelines.research.model import Hit, terms


@runtime_checkable
class Source(Protocol):
    name: str

    async def search(self, query: str, limit: int) -> list[Hit]:
        """Hits for ``query``, best first by the source's own order; raises SourceError."""
        ...


def overlap(query: str, *texts: str) -> float:
    """Share of the query's content words found in ``texts`` (0..1): how sources without search rank."""
    q = terms(query)
    if not q:
        return 0.0
    hay = " ".join(texts).lower()
    return sum(1 for t in q if t in hay) / len(q)


async def get(http: httpx.AsyncClient, url: str, what: str, **kw: object) -> httpx.Response:
    """GET with errors translated: SourceError names the source and what went wrong."""
    try:
        r = await http.get(url, **kw)  # type: ignore[arg-type]
    except httpx.HTTPError as e:
        raise SourceError(f"{what}: {url} unreachable ({type(e).__name__})") from None
    if r.status_code != 200:
        raise SourceError(f"{what}: {url} answered HTTP {r.status_code}")
    return r


def parse_feed(content: bytes) -> Any:
    """feedparser's result for an RSS/Atom document; blocking (call in a thread)."""
    try:
        import feedparser
    except ImportError:
        raise SourceError("feeds and arXiv need feedparser: install hydra-os[research]") from None
    return feedparser.parse(content)
