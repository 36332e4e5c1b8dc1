"""The vectors of the texts an embedder embedded last, reused (the memory node's archival store).

One chat turn is embedded twice on the memory node: as the query of its context assembly, and moments
later, when the archiver stores the exchange, as a passage. A vector depends only on the model and the
text, so the second embedding is the first one again; keeping the last ``size`` texts' vectors spares
that model call (with the default ONNX MiniLM, tens of milliseconds of CPU on a loaded 2-core node).
Bound to one inner embedder, so to one model: there is nothing to invalidate (a reindex gives the store
another embedder, and this cache goes with the old one).
"""

from __future__ import annotations

from collections import OrderedDict

from memory.protocols import Embedder


class RecentEmbeddings:
    """An :class:`~memory.protocols.Embedder` that answers a text embedded lately from memory.
    ``close()`` leaves the inner embedder open: whoever made it closes it."""

    def __init__(self, inner: Embedder, size: int = 256) -> None:
        if size < 1:
            raise ValueError("size: expected at least 1")
        self.inner = inner
        self._size = size
        self._recent: OrderedDict[str, list[float]] = OrderedDict()
        self.reused = 0  # texts answered from memory

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def dim(self) -> int:
        return self.inner.dim

    async def embed(self, texts: list[str]) -> list[list[float]]:
        known: dict[str, list[float]] = {}
        for t in texts:
            vec = self._recent.get(t)
            if vec is not None:
                self._recent.move_to_end(t)
                known[t] = vec
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            fresh = await self.inner.embed(missing)
            for t, vec in zip(missing, fresh, strict=True):
                known[t] = vec
                self._recent[t] = vec
                self._recent.move_to_end(t)
            while len(self._recent) > self._size:
                self._recent.popitem(last=False)
        fresh_texts = set(missing)
        self.reused += sum(1 for t in texts if t not in fresh_texts)
        return [list(known[t]) for t in texts]  # copies: a caller may keep or change its vectors

    async def close(self) -> None:
        return None
