"""Embeddings from any OpenAI-compatible ``POST /v1/embeddings`` (Hydra gateway, Ollama, vLLM).

Request ``{"model": ..., "input": [texts]}``; response ``{"data": [{"index": i, "embedding": [...]}]}``.
Vectors are scaled to unit length (the archival store searches by cosine). ``dim`` is learned from the
first response (or ``probe()``); the model name the store records is ``openai:<model>``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx

from memory.errors import MemoryBackendError


class OpenAIEmbedder:
    """Client of an OpenAI-compatible embeddings endpoint (httpx, async)."""

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key_file: Path | None = None,
        timeout_s: float = 30.0,
        batch_size: int = 64,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise MemoryBackendError(f"embed.url: expected an http(s) URL, got {url!r}")
        headers = {}
        if api_key_file is not None:
            try:
                headers["Authorization"] = "Bearer " + api_key_file.read_text().strip()
            except OSError as err:
                raise MemoryBackendError(f"embed.api_key_file: cannot read {api_key_file}: {err.strerror}") from err
        self._url = url.rstrip("/") + "/v1/embeddings"
        self._model = model
        self._batch = batch_size
        self._dim: int | None = None
        self._client = httpx.AsyncClient(timeout=timeout_s, headers=headers, transport=transport)

    @property
    def model(self) -> str:
        return f"openai:{self._model}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            raise MemoryBackendError(f"embedder {self.model}: dimension unknown until probe() or a first embed()")
        return self._dim

    async def probe(self) -> int:
        """Embed one short text to learn the dimension; returns it."""
        await self.embed(["dimension probe"])
        return self.dim

    async def _call(self, texts: list[str]) -> list[list[float]]:
        try:
            resp = await self._client.post(self._url, json={"model": self._model, "input": texts})
        except httpx.HTTPError as err:
            raise MemoryBackendError(f"embedder {self.model}: {self._url} unreachable: {err}") from err
        if resp.status_code != 200:
            raise MemoryBackendError(
                f"embedder {self.model}: {self._url} answered {resp.status_code}: {resp.text[:200]}"
            )
        try:
            body: Any = resp.json()
            data = sorted(body["data"], key=lambda d: int(d["index"]))
            vecs = [[float(x) for x in d["embedding"]] for d in data]
        except (ValueError, KeyError, TypeError) as err:
            raise MemoryBackendError(f"embedder {self.model}: malformed response from {self._url}: {err}") from err
        if len(vecs) != len(texts):
            raise MemoryBackendError(f"embedder {self.model}: asked for {len(texts)} vectors, got {len(vecs)}")
        out = []
        for v in vecs:
            if self._dim is None:
                self._dim = len(v)
            if len(v) != self._dim:
                raise MemoryBackendError(f"embedder {self.model}: vector of {len(v)} dims, expected {self._dim}")
            n = math.sqrt(sum(x * x for x in v)) or 1.0
            out.append([x / n for x in v])
        return out

    async def embed(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), self._batch):
            out.extend(await self._call(texts[i : i + self._batch]))
        return out

    async def close(self) -> None:
        await self._client.aclose()
