"""Deduplicate and rank what the sources found.

Duplicates: the same page under another URL form (scheme, ``www.``, trailing slash, fragment, tracking
parameters, arXiv ``/pdf/`` vs ``/abs/`` and version suffixes), the same title, or the same opening text.
The copy kept is the one with the most text; the queries that found any copy are merged.

Score (higher is better): topic words in the title (x2) and in the text, how many queries found it,
freshness (published within 30 days / a year), and a small prior for primary sources (papers, releases).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pipelines.research.model import Document, Hit
from pipelines.research.sources.base import overlap

_PRIMARY = {"arxiv": 0.15, "github": 0.15, "local": 0.1}


def canonical_url(url: str) -> str:
    p = urlsplit(url.strip())
    host = (p.hostname or "").lower().removeprefix("www.")
    path = p.path.rstrip("/") or "/"
    if host.endswith("arxiv.org"):
        path = re.sub(r"^/pdf/", "/abs/", path)
        path = re.sub(r"(\.pdf)?(v\d+)?$", "", path)
    query = urlencode(sorted((k, v) for k, v in parse_qsl(p.query) if not k.lower().startswith(("utm_", "ref"))))
    scheme = "https" if p.scheme in ("http", "https") else p.scheme
    return urlunsplit((scheme, host + (f":{p.port}" if p.port else ""), path, query, ""))


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def _published(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            dt = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def score(topic: str, hit: Hit, text: str, found_by: int, now: datetime) -> float:
    s = 2.0 * overlap(topic, hit.title) + overlap(topic, hit.snippet, text[:5000])
    s += 0.2 * max(0, found_by - 1) + _PRIMARY.get(hit.source, 0.0)
    pub = _published(hit.published)
    if pub is not None:
        age = (now - pub).days
        s += 0.3 if age <= 30 else 0.1 if age <= 365 else 0.0
    return round(s, 4)


def dedupe_hits(hits: list[Hit]) -> tuple[list[Hit], dict[str, int]]:
    """Unique hits (first-seen order) and, per canonical URL, how many queries found it."""
    by_url: dict[str, Hit] = {}
    found: dict[str, set[str]] = {}
    for h in hits:
        key = canonical_url(h.url)
        found.setdefault(key, set()).add(h.query)
        kept = by_url.get(key)
        if kept is None or len(h.text or h.snippet) > len(kept.text or kept.snippet):
            by_url[key] = h
    seen_titles: dict[str, str] = {}
    out: list[Hit] = []
    for key, h in by_url.items():
        t = _norm(h.title)
        if t and t in seen_titles and len(t) > 12:
            found[seen_titles[t]] |= found[key]
            continue
        seen_titles[t] = key
        out.append(h)
    return out, {k: len(v) for k, v in found.items()}


def rank_hits(topic: str, hits: list[Hit], now: datetime | None = None) -> list[Hit]:
    now = now or datetime.now(UTC)
    unique, found = dedupe_hits(hits)
    scored = [h.model_copy(update={"score": score(topic, h, h.text or "", found[canonical_url(h.url)], now)})
              for h in unique]
    return sorted(scored, key=lambda h: (-h.score, h.url))


def rank_documents(topic: str, docs: list[Document], limit: int, now: datetime | None = None) -> list[Document]:
    """Best documents first, same-text copies dropped, at most ``limit``; documents without text go last."""
    now = now or datetime.now(UTC)
    scored = []
    for d in docs:
        s = score(topic, d.hit, d.text, 1, now) + d.hit.score * 0.25
        scored.append(d.model_copy(update={"hit": d.hit.model_copy(update={"score": round(s, 4)})}))
    scored.sort(key=lambda d: (not d.text.strip(), -d.hit.score, d.hit.url))
    out, openings = [], set()
    for d in scored:
        opening = _norm(d.text)[:300]
        if opening and opening in openings:
            continue
        openings.add(opening)
        out.append(d)
        if len(out) >= limit:
            break
    return out
