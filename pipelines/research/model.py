"""What the research steps pass each other (JSON-able, so every step's result can be checkpointed)."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

_WORD = re.compile(r"[a-z0-9][a-z0-9.+#-]*")
STOP = frozenset(
    "a an and are as at be by for from how in into is it its of on or over the their this to was what when "
    "which who why with about latest recent new news developments development update updates state art "
    "research overview".split()
)


def terms(text: str) -> list[str]:
    """Lowercase content words (stop words removed), in order, without repeats."""
    seen: dict[str, None] = {}
    for w in _WORD.findall(text.lower()):
        w = w.strip(".-")
        if len(w) > 1 and w not in STOP:
            seen.setdefault(w, None)
    return list(seen)


class Hit(BaseModel):
    """One thing a source found for a query."""

    url: str
    title: str
    snippet: str = ""
    source: str = Field(description="searxng, arxiv, feed, github, local")
    query: str = ""
    published: str | None = Field(default=None, description="ISO 8601 date when the source gives one")
    text: str | None = Field(default=None, description="full text when the source gives it (no fetch needed)")
    score: float = 0.0


class Document(BaseModel):
    """A hit after fetching and extracting its main text."""

    hit: Hit
    text: str
    fetched: bool = Field(description="the page was fetched and extracted (else: the source's own text)")
    error: str | None = None
