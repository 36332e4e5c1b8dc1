"""The creative studio's account of a period for the morning briefing: the ``creative`` verb's ``digest`` op
answers with a :class:`CreativeDigest`.

Outside ``pipelines.creative`` (like ``creative_config``) so the briefing can read the answer without
importing the studio: the studio reaches the intake package, which reaches the briefing.

Thumbnails are JPEG ``data:`` URIs inside the briefing itself, not links to files the node serves: the
briefing is one self-contained page (mail, the briefing file, the web page) that must read the same on a
phone away from the homelab, where the node's API and its bearer token are out of reach (a mail client
would not send the token for a remote image anyway). The size is bounded by ``max_count`` x ``max_px``
(8 images of at most 160 px by default: a few kB each).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DigestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: float = Field(ge=0, description="start of the period (Unix seconds)")
    until: float = Field(ge=0, description="end of the period (Unix seconds), exclusive")
    max_count: int = Field(default=8, ge=0, le=48, description="thumbnails at most")
    max_px: int = Field(default=160, ge=32, le=512, description="a thumbnail's longer side in pixels")


class Thumbnail(BaseModel):
    project: str
    scene: str
    key: str
    data_uri: str = Field(default="", description="data:image/jpeg;base64,... at most max_px on its longer side")
    score: float | None = Field(default=None, description="similarity to the references; None: unscored")
    outlier: bool = False
    review: str = "pending"

    def rank(self) -> tuple[int, int, str, str, str]:
        """Outliers first, then what waits for review, so a short list shows what needs the owner."""
        return (0 if self.outlier else 1, 0 if self.review == "pending" else 1, self.project, self.scene, self.key)


class CreativeDigest(BaseModel):
    made: int = Field(default=0, description="images made in the period")
    unscored: int = 0
    outliers: int = 0
    failed_images: int = Field(default=0, description="images that failed inside creative tasks of the period")
    failed_tasks: int = 0
    review_images: int = Field(default=0, description="images (of any period) waiting for the owner's review")
    review_lines: int = 0
    thumbnails: list[Thumbnail] = Field(default_factory=list)
    not_shown: int = Field(default=0, description="images made in the period without a thumbnail here")
    problems: list[str] = Field(default_factory=list, description="images that could not be read, and why")

    def empty(self) -> bool:
        return not (self.made or self.failed_images or self.failed_tasks or self.review_images or self.review_lines
                    or self.problems)

    def add(self, other: CreativeDigest, max_count: int) -> None:
        """Another node's digest into this one; the thumbnails re-ranked and bounded again."""
        for f in ("made", "unscored", "outliers", "failed_images", "failed_tasks", "review_images", "review_lines"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.thumbnails = sorted([*self.thumbnails, *other.thumbnails], key=Thumbnail.rank)[:max_count]
        self.not_shown = self.made - len(self.thumbnails)
        self.problems += other.problems


def failed_images(result: object) -> int:
    """Images that failed in a creative task's result (``creative.scene``: ``images``; ``creative.assets``:
    one such result per scene under ``scenes``)."""
    if not isinstance(result, dict):
        return 0
    scenes = result.get("scenes")
    outs = [result.get("images"), *(scenes.values() if isinstance(scenes, dict) else [])]
    return sum(len(o.get("failed") or {}) for o in outs if isinstance(o, dict))
