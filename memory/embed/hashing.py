"""A hashing-trick bag-of-words embedder: no model, no dependencies, deterministic.

Each lower-cased word (and each adjacent word pair) is hashed (BLAKE2b) to one of ``dim`` buckets
with a sign taken from the same hash; counts are damped (1 + log tf) and the vector is scaled to unit
length. Similar vectors mean shared words, not shared meaning: it is the embedder for fast
deterministic tests, and the archival store treats it like any other model (its
name is recorded, a store built with it refuses MiniLM queries until reindexed).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
import re
from collections import Counter

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


class HashingEmbedder:
    """Signed feature hashing of unigrams and bigrams into ``dim`` buckets (unit length)."""

    def __init__(self, dim: int = 384) -> None:
        if dim < 8:
            raise ValueError("dim: expected at least 8")
        self._dim = dim

    @property
    def model(self) -> str:
        return f"hashing-bow-v1-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed_one(self, text: str) -> list[float]:
        words = _WORD.findall(text.lower())
        feats = Counter(words)
        feats.update(f"{a} {b}" for a, b in itertools.pairwise(words))
        vec = [0.0] * self._dim
        for feat, tf in feats.items():
            h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
            weight = (1.0 + math.log(tf)) * (0.5 if " " in feat else 1.0)
            vec[h % self._dim] += weight if (h >> 63) & 1 else -weight
        norm = math.sqrt(sum(v * v for v in vec))
        if norm == 0.0:  # no words at all: a fixed unit vector so cosine stays defined
            vec[0] = 1.0
            return vec
        return [v / norm for v in vec]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if len(texts) <= 32:  # tens of microseconds a short text: not worth a thread hop
            return [self.embed_one(t) for t in texts]
        return await asyncio.to_thread(lambda: [self.embed_one(t) for t in texts])

    async def close(self) -> None:
        return None
