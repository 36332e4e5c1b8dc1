"""Fetch pages and extract their main text with trafilatura.

trafilatura is the maintained extractor of the field (boilerplate removal, metadata, fallbacks to
readability-style and jusText extraction built in); its work is CPU-bound, so it runs in a thread.
Pages that are not HTML (plain text) are taken as they are; anything else is skipped with a reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from pipelines.research.errors import SourceError
from pipelines.research.model import Document, Hit

MAX_TEXT = 12_000


def extract_html(html: str, url: str) -> tuple[str | None, str | None]:
    """(title, main text) of an HTML page; blocking (call in a thread)."""
    try:
        import trafilatura  # lazy: the research extra (lxml and friends); the rest of Hydra runs without it
    except ImportError:
        raise SourceError("extracting pages needs trafilatura: install hydra-os[research]") from None

    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False,
                                      include_tables=True, favor_precision=True)
    if doc is None:
        return None, None
    return getattr(doc, "title", None), getattr(doc, "text", None)


@dataclass(frozen=True)
class _Page:
    content_type: str
    body: str


async def fetch_text(http: httpx.AsyncClient, hit: Hit, max_bytes: int) -> Document:
    """The hit's main text: fetched and extracted, or the source's own text when the fetch fails."""
    if hit.url.startswith("file:") or (hit.text and hit.source in ("arxiv", "github", "local")):
        return Document(hit=hit, text=(hit.text or hit.snippet)[:MAX_TEXT], fetched=False)
    page = await _download(http, hit.url, max_bytes)
    if isinstance(page, str):
        return _unfetched(hit, page)
    return await _read(hit, page)


async def _download(http: httpx.AsyncClient, url: str, max_bytes: int) -> _Page | str:
    """The first ``max_bytes`` of the page, or why there is none."""
    try:
        async with http.stream("GET", url, follow_redirects=True) as r:
            if r.status_code != 200:
                return f"HTTP {r.status_code}"
            chunks, size = [], 0
            async for chunk in r.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= max_bytes:
                    break
            body = b"".join(chunks).decode(r.encoding or "utf-8", errors="replace")
            return _Page(r.headers.get("content-type", ""), body)
    except httpx.HTTPError as e:
        return type(e).__name__


async def _read(hit: Hit, page: _Page) -> Document:
    """The main text of a downloaded page: extracted from HTML, plain text as it is."""
    ctype, body = page.content_type, page.body
    if "html" in ctype or body.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
        title, text = await asyncio.to_thread(extract_html, body, hit.url)
        if not text:
            return _unfetched(hit, "no main text found")
        if title and (not hit.title or hit.title == hit.url):
            hit = hit.model_copy(update={"title": title})
        return Document(hit=hit, text=text[:MAX_TEXT], fetched=True)
    if ctype.startswith("text/"):
        return Document(hit=hit, text=body[:MAX_TEXT], fetched=True)
    return _unfetched(hit, f"not a page ({ctype or 'no type'})")


def _unfetched(hit: Hit, error: str) -> Document:
    """The source's own text (or snippet) in place of the page, with why the page was not used."""
    return Document(hit=hit, text=(hit.text or hit.snippet)[:MAX_TEXT], fetched=False, error=error)
