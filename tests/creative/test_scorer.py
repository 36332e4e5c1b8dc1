"""Consistency scores against an image-embedding stand-in: similarity to the references, outliers
flagged; without a scorer, or when it fails, images stay unscored (None), never a number."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import numpy as np
import pytest

from pipelines.creative.images import ImageBatch, plan
from pipelines.creative.model import ReferenceImage
from pipelines.creative.ops import CharacterPut
from pipelines.creative.scorer import Scorer
from pipelines.creative.service import CreativeService
from pipelines.creative_config import CreativeConfig
from tests.creative.conftest import make_project
from tests.standins.comfyui import ComfyStandin, png_bytes
from tests.standins.image_embeddings import ImageEmbedStandin, mean_rgb


@pytest.fixture
async def embed() -> AsyncIterator[ImageEmbedStandin]:
    async with ImageEmbedStandin() as s:
        yield s


async def test_character_images_are_scored_against_their_references(
        service: CreativeService, embed: ImageEmbedStandin) -> None:
    await make_project(service)
    proj = service.store.dir("ebq")
    (proj / "references").mkdir(parents=True)
    ref = png_bytes(5)
    (proj / "references" / "aria.png").write_bytes(ref)
    aria = (await service.get("ebq")).characters["aria"]
    body = aria.model_dump(exclude={"id"}) | {"references": [ReferenceImage(
        path="references/aria.png", sha256=hashlib.sha256(ref).hexdigest())]}
    await service.put_character(CharacterPut.model_validate({"project": "ebq", "id": "aria", "character": body}))
    p = await service.get("ebq")
    async with ComfyStandin() as comfy:
        report = await ImageBatch([comfy.base], proj, timeout=30).run(plan(p, p.scenes["s1"]))
    cfg = CreativeConfig(scorer_url=embed.base_url, outlier_below=0.9999)
    scores = await Scorer(cfg).score_all(p, proj, report.done)
    assert scores["bg_hall"] == (None, False) and scores["zoe_neutral"] == (None, False)  # no references
    score, outlier = scores["aria_neutral"]
    a = np.array(mean_rgb((proj / "images" / "aria_neutral.png").read_bytes()))
    b = np.array(mean_rgb(ref))
    assert score == pytest.approx(float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)), abs=1e-4)
    assert outlier == (score < 0.9999) and embed.requests == [{"model": cfg.scorer_model, "modality": "image", "n": 2}]
    embed.fail = True
    assert (await Scorer(cfg).score_all(p, proj, report.done))["aria_neutral"] == (None, False)
    assert (await Scorer(CreativeConfig()).score_all(p, proj, report.done))["aria_neutral"] == (None, False)


def test_mean_rgb_reads_the_png() -> None:
    r, g, b = (5 * 97) % 256, (5 * 57 + 80) % 256, (5 * 31 + 160) % 256
    got = mean_rgb(png_bytes(5, 4, 1))
    assert got == [r, g, b]  # a 4x1 image: one row, its green shifted by 0
