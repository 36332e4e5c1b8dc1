"""Duplicate detection for passages.

- Exact duplicates share a content hash: SHA-256 of the text with line endings normalised and outer
  whitespace stripped. The store keeps one passage per hash.
- Near-duplicates are close in embedding space (cosine >= threshold) *and* share almost all words
  (Jaccard of lower-cased word sets >= threshold). The word test keeps "prefers vim" and
  "prefers neovim" apart even when their vectors are close: a changed fact is never folded away.
"""

from __future__ import annotations

import hashlib
import re
import uuid

_WORD = re.compile(r"\w+")
_ID_NAMESPACE = uuid.UUID("6f1c2a4e-9d3b-5e7f-8a1c-2b3d4e5f6a7b")


def content_hash(text: str) -> str:
    norm = text.replace("\r\n", "\n").strip()
    return hashlib.sha256(norm.encode()).hexdigest()


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def passage_id_for(text_hash: str) -> str:
    """The id a new passage gets: derived from its content, so re-adding is idempotent."""
    return str(uuid.uuid5(_ID_NAMESPACE, text_hash))


def point_id(passage_id: str) -> str:
    """Qdrant wants UUID (or integer) point ids; any other passage id maps to a stable UUID."""
    try:
        return str(uuid.UUID(passage_id))
    except ValueError:
        return str(uuid.uuid5(_ID_NAMESPACE, "id:" + passage_id))
