"""Fetch pages and extract their main text with trafilatura.

trafilatura is the maintained extractor of the field (boilerplate removal, metadata, fallbacks to
readability-style and jusText extraction built in); its work is CPU-bound, so it runs in a thread.
Pages that are not HTML (plain text) are taken as they are; anything else is skipped with a reason.
"""

from __future__ import annotations

import asyncio

import httpx

from pipelines.research.errors import SourceError
from pipelines.research.model import Document, Hit

MAX_TEXT = 12_000


def extract_html(html: str, url: str) -> tuple[str | None, str | None]:
    """(title, main text) of an HTML page; blocking (call in a thread)."""
    try:
        import trafilatura
    except ImportError:
        raise SourceError("extracting pages needs trafilatura: install hydra-os[research]") from None

    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False,
                                      include_tables=True, favor_precision=True)
    if doc is None:
        return None, None
    return getattr(doc, "title", None), getattr(doc, "text", None)


async def fetch_text(http: httpx.AsyncClient, hit: Hit, max_bytes: int) -> Document:
    """The hit's main text: fetched and extracted, or the source's own text when the fetch fails."""
    fallback = hit.text or hit.snippet
    if hit.url.startswith("file:") or (hit.text and hit.source in ("arxiv", "github", "local")):
        return Document(hit=hit, text=(hit.text or hit.snippet)[:MAX_TEXT], fetched=False)
    try:
        async with http.stream("GET", hit.url, follow_redirects=True) as r:
            if r.status_code != 200:
                return Document(hit=hit, text=fallback[:MAX_TEXT], fetched=False, error=f"HTTP {r.status_code}")
            ctype = r.headers.get("content-type", "")
            chunks, size = [], 0
            async for chunk in r.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= max_bytes:
                    break
            raw = b"".join(chunks)
            encoding = r.encoding or "utf-8"
    except httpx.HTTPError as e:
        return Document(hit=hit, text=fallback[:MAX_TEXT], fetched=False, error=type(e).__name__)
    body = raw.decode(encoding, errors="replace")
    if "html" in ctype or body.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
        title, text = await asyncio.to_thread(extract_html, body, hit.url)
        if not text:
            return Document(hit=hit, text=fallback[:MAX_TEXT], fetched=False, error="no main text found")
        if title and (not hit.title or hit.title == hit.url):
            hit = hit.model_copy(update={"title": title})
        return Document(hit=hit, text=text[:MAX_TEXT], fetched=True)
    if ctype.startswith("text/"):
        return Document(hit=hit, text=body[:MAX_TEXT], fetched=True)
    return Document(hit=hit, text=fallback[:MAX_TEXT], fetched=False, error=f"not a page ({ctype or 'no type'})")
