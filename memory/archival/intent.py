"""What a query asks about in time: the present state, the past, or neither.

Hybrid search adds a newest-first ranking to the fusion (a recency prior, ``recency_weight``) and
moves a newer same-topic passage above the one it updates (:mod:`memory.archival.updates`). Both
help "what is my editor?" and both are wrong for "what editor did I use before?". The query itself
usually says which it wants, in a few words, so this module reads them — deterministically, no model:

- ``current``: "current(ly)", "now", "nowadays", "these days", "at the moment", "right now",
  "latest", "most recent", "still", "anymore", "today", "present(ly)". Hybrid search then uses
  ``recency_weight_current`` (a stronger recency prior) instead of ``recency_weight``.
- ``past``: "used to", "originally", "at first", "previous(ly)", "former(ly)", "back then",
  "before", "prior to", "in the past", "earlier". Hybrid search then turns the recency prior and the
  update ordering off, so the older statement keeps the rank its words earn.
- ``None``: anything else — the configured ``recency_weight`` and update ordering apply.

A query with words of both kinds ("what did I use before my current editor?") counts as ``past``:
it names the present only to point at something older.
"""

from __future__ import annotations

import re
from typing import Literal

TemporalIntent = Literal["current", "past"]

_CURRENT = re.compile(
    r"\b(?:current(?:ly)?|now|nowadays|these\s+days|at\s+the\s+moment|right\s+now|latest|most\s+recent(?:ly)?"
    r"|still|any\s?more|today|present(?:ly)?)\b",
    re.IGNORECASE,
)
_PAST = re.compile(
    r"\b(?:used\s+to|originally|at\s+first|previous(?:ly)?|former(?:ly)?|back\s+then|before|prior\s+to"
    r"|in\s+the\s+past|earlier)\b",
    re.IGNORECASE,
)


def temporal_intent(query: str) -> TemporalIntent | None:
    """``"past"``, ``"current"`` or ``None`` for ``query`` (see the module docstring for the words)."""
    if _PAST.search(query):
        return "past"
    if _CURRENT.search(query):
        return "current"
    return None
