"""The ``digest`` op: this node's projects' images made in a period (by their provenance time), what waits
for review, and a bounded number of downscaled thumbnails (Pillow), for the morning briefing."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from pipelines.creative.images import Provenance
from pipelines.creative.model import ImageAsset, Project, Review
from pipelines.creative.store import ProjectStore
from pipelines.creative_digest import CreativeDigest, DigestRequest, Thumbnail

JPEG_QUALITY = 70
# A larger file is not decoded for a thumbnail (a 1216 px PNG from ComfyUI is a few MB).
MAX_SOURCE_BYTES = 40 * 2**20
# All thumbnails of one answer together: it travels as one bus message (max_payload is 1 MiB by default).
MAX_THUMBNAIL_BYTES = 512 * 1024


def thumbnail_uri(path: Path, max_px: int) -> str:
    """A JPEG data URI of the image at ``path``, downscaled to at most ``max_px`` on its longer side."""
    if path.stat().st_size > MAX_SOURCE_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_SOURCE_BYTES // 2**20} MB")
    with Image.open(path) as im:  # Pillow refuses decompression bombs (Image.MAX_IMAGE_PIXELS)
        im.draft("RGB", (max_px, max_px))  # JPEG sources decode at a reduced scale
        small = im.convert("RGB")
    small.thumbnail((max_px, max_px))
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _made_at(folder: Path, a: ImageAsset) -> float | None:
    """When the image was made, from its provenance (the batch's commit mark); None when unreadable."""
    try:
        return Provenance.model_validate_json((folder / a.provenance_path).read_bytes()).made.timestamp()
    except (OSError, ValueError):
        return None


def _project(d: CreativeDigest, folder: Path, p: Project, since: float, until: float) -> list[tuple[Thumbnail, Path]]:
    """Counts into ``d``; the images made in the period, not decoded yet. Scenes share images (a sprite is
    made once per project), so an image counts once, under the first scene that shows it."""
    d.review_lines += sum(1 for s in p.scenes.values() for ln in s.lines if ln.review == Review.PENDING)
    d.review_images += len({a.path for s in p.scenes.values() for a in s.images if a.review == Review.PENDING})
    made: dict[str, tuple[Thumbnail, Path]] = {}
    for sid, s in p.scenes.items():
        for a in s.images:
            at = _made_at(folder, a)
            if a.path in made or at is None or not since <= at < until:
                continue
            d.unscored += a.score is None
            d.outliers += a.outlier
            made[a.path] = (Thumbnail(project=p.id, scene=sid, key=a.key, score=a.score, outlier=a.outlier,
                                      review=a.review.value), folder / a.path)
    return list(made.values())


def _digest(store: ProjectStore, projects: list[Project], req: DigestRequest) -> CreativeDigest:
    d = CreativeDigest()
    made = [m for p in projects for m in _project(d, store.dir(p.id), p, req.since, req.until)]
    d.made = len(made)
    size = 0
    for t, path in sorted(made, key=lambda m: m[0].rank())[:req.max_count]:  # only the shown ones are decoded
        try:
            t.data_uri = thumbnail_uri(path, req.max_px)
        except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as e:
            d.problems.append(f"{t.project}/{t.scene} {t.key}: {e}")
            continue
        size += len(t.data_uri)
        if size > MAX_THUMBNAIL_BYTES:
            break
        d.thumbnails.append(t)
    d.not_shown = d.made - len(d.thumbnails)
    return d


async def collect(store: ProjectStore, req: DigestRequest) -> CreativeDigest:
    """Every project of this node; reading and decoding run off the event loop."""
    projects = await store.projects()
    return await asyncio.to_thread(_digest, store, projects, req)
