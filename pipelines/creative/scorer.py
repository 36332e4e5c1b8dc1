"""Consistency scores: how close each new character image is to that character's reference images.

Needs an image-embedding model. The scorer speaks Infinity's embeddings API (``POST {url}/embeddings``
with ``{"model", "input": [data URIs], "modality": "image"}``, answered in OpenAI's ``data[].embedding``
shape); the score is the mean cosine similarity to the references, an outlier is below
``outlier_below``. With no scorer configured, for backgrounds, for characters without references or
when the scorer fails, an image is unscored (``None``) — never a made-up number.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import httpx
import numpy as np

from pipelines.creative.images import Provenance
from pipelines.creative.model import Project
from pipelines.creative_config import CreativeConfig

Score = tuple[float | None, bool]


def _uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


class Scorer:
    def __init__(self, cfg: CreativeConfig) -> None:
        self.cfg = cfg

    async def embed(self, images: list[bytes]) -> list[list[float]]:
        assert self.cfg.scorer_url is not None
        async with httpx.AsyncClient(timeout=self.cfg.comfyui_request_timeout_s) as http:
            r = await http.post(self.cfg.scorer_url + "/embeddings", json={
                "model": self.cfg.scorer_model, "input": [_uri(d) for d in images], "modality": "image"})
        r.raise_for_status()
        data = sorted(r.json()["data"], key=lambda d: d["index"])
        return [list(map(float, d["embedding"])) for d in data]

    async def score_all(self, project: Project, project_dir: Path, made: list[Provenance]) -> dict[str, Score]:
        out: dict[str, Score] = {pr.key: (None, False) for pr in made}
        if self.cfg.scorer_url is None:
            return out
        for pr in made:
            c = next((c for cid, c in project.characters.items() if pr.key.startswith(f"{cid}_")), None)
            if c is None or not c.references:
                continue
            try:
                image = await asyncio.to_thread((project_dir / "images" / f"{pr.key}.png").read_bytes)
                refs = [await asyncio.to_thread((project_dir / r.path).read_bytes) for r in c.references]
                vecs = np.array(await self.embed([image, *refs]), dtype=np.float64)
            except (httpx.HTTPError, OSError, KeyError, ValueError, TypeError):
                continue  # unscored: a broken scorer must not invent a score
            unit = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
            score = round(float(np.mean(unit[1:] @ unit[0])), 4)
            out[pr.key] = (score, score < self.cfg.outlier_below)
        return out
