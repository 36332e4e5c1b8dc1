"""One pydantic model per creative operation, shared by the HTTP routes, the ``creative`` bus verb and
the CLI (``hydra creative ...``)."""

from __future__ import annotations

from pydantic import Base64Bytes, BaseModel, ConfigDict, Field

from pipelines.creative.model import (
    ChapterIn,
    CharacterIn,
    Ident,
    PlaceIn,
    ProjectIn,
    Review,
    SceneIn,
)


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectCreate(_Op):
    id: Ident
    project: ProjectIn


class ProjectRef(_Op):
    project: Ident


class CharacterPut(_Op):
    project: Ident
    id: Ident
    character: CharacterIn


class PlacePut(_Op):
    project: Ident
    id: Ident
    place: PlaceIn


class ChapterPut(_Op):
    project: Ident
    id: Ident
    chapter: ChapterIn


class ScenePut(_Op):
    project: Ident
    id: Ident
    scene: SceneIn


class ReviewSet(_Op):
    """Approve or reject a generated line or image; a rejected one is made again (new seed) next run."""

    project: Ident
    scene: Ident
    line: Ident | None = Field(default=None, description="the line's id (set this or image)")
    image: str | None = Field(default=None, pattern=r"^[a-z0-9_]+$", description="the image's key")
    review: Review
    add_reference: bool = Field(default=False, description="approved image: add it to the character's references")


class ReferenceAdd(_Op):
    """A PNG kept as a reference image of a character (the bus verb's form of
    ``POST .../characters/{id}/references``; a bus message is bounded by the server's max_payload)."""

    project: Ident
    character: Ident
    png: Base64Bytes = Field(description="the PNG file, base64")


class Changed(_Op):
    """What a write did: the project's new revision, a rename, and whether memory is up to date."""

    project: str
    revision: int
    target: str
    renamed_from: str | None = None
    memory: str = Field(description="'updated', or why the graph/core block update is pending")
