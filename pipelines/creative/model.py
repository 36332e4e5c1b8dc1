"""The creative studio's data: a project with its characters, places, chapters and scenes.

Every model validates on construction (pydantic, ``extra="forbid"``), so a bad field is refused with
its name and what was expected before anything is stored. Ids are short identifiers (they become
Ren'Py names and file names), names are free text. Generated things (dialogue lines, images, voice
files) live on the scene they belong to, each with a review state the owner sets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

ID_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
Ident = Annotated[str, Field(pattern=ID_PATTERN, description="lower-case identifier: a-z, 0-9, _ (max 40)")]
Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$", description="#rrggbb")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


def _clean(v: str) -> str:
    v = " ".join(v.split())
    if not v:
        raise ValueError("expected non-blank text")
    return v


Name = Annotated[str, Field(min_length=1, max_length=120), AfterValidator(_clean)]
Text = Annotated[str, Field(max_length=4000)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SeedPolicy(StrEnum):
    FIXED = "fixed"  # the character's seed every time (most consistent)
    PER_IMAGE = "per_image"  # derived from seed + image key: stable on re-run, different per image
    RANDOM = "random"  # a fresh seed each generation


class VoiceEngine(StrEnum):
    ESPEAK = "espeak"
    OPENAI = "openai"  # any OpenAI-compatible /v1/audio/speech server


class Review(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Stage(StrEnum):
    DIALOGUE = "dialogue"
    IMAGES = "images"
    VOICES = "voices"
    EXPORT = "export"


class Voice(_Model):
    engine: VoiceEngine = VoiceEngine.ESPEAK
    voice: str = Field(default="en", min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.+\-]+$",
                       description="espeak-ng voice (e.g. en-gb+f3) or the speech server's voice id")
    speed: float = Field(default=1.0, ge=0.25, le=4.0, description="1.0 = normal (espeak: 175 words/min)")
    pitch: int = Field(default=50, ge=0, le=99, description="espeak-ng pitch 0-99 (other engines ignore it)")


def _inside(v: str) -> str:
    """A path relative to the project folder that cannot leave it (no absolute path, no '..')."""
    parts = v.split("/")
    if v.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in v:
        raise ValueError("expected a relative path inside the project folder, e.g. references/aria.png")
    return v


ProjectPath = Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[A-Za-z0-9_./ -]+$"),
                        AfterValidator(_inside)]


class ReferenceImage(_Model):
    path: ProjectPath = Field(description="the image file, relative to the project folder")
    sha256: Sha256


class GenerationSettings(_Model):
    template: str | None = Field(default=None, pattern=r"^[a-z0-9_\-]{1,60}$",
                                 description="workflow template name; unset: the project's default")
    seed_policy: SeedPolicy = SeedPolicy.PER_IMAGE
    seed: int = Field(default=0, ge=0, lt=2**63)
    lora: str | None = Field(default=None, max_length=200)
    lora_weight: float = Field(default=0.8, ge=-4.0, le=4.0)
    reference_weight: float = Field(default=0.8, ge=0.0, le=2.0, description="IP-Adapter / InstantID weight")
    negative: Text = ""


class CharacterIn(_Model):
    name: Name
    aliases: list[Name] = Field(default_factory=list, max_length=20)
    description: Text = ""
    personality: Text = ""
    speech_style: Text = ""
    appearance: Text = Field(default="", description="the prompt that describes how the character looks")
    colour: Colour = "#c8ffc8"
    references: list[ReferenceImage] = Field(default_factory=list, max_length=20)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    voice: Voice = Field(default_factory=Voice)


class Character(CharacterIn):
    id: Ident


class PlaceIn(_Model):
    name: Name
    description: Text = ""
    background: Text = Field(default="", description="prompt for the background image")


class Place(PlaceIn):
    id: Ident


class ChapterIn(_Model):
    title: Name
    order: int = Field(default=0, ge=0, le=100_000)


class Chapter(ChapterIn):
    id: Ident


class ChoiceOption(_Model):
    text: Annotated[str, Field(min_length=1, max_length=200)]
    jump: Ident = Field(description="id of the scene this choice leads to")


class SceneIn(_Model):
    chapter: Ident
    title: Name
    order: int = Field(default=0, ge=0, le=100_000)
    outline: Text = Field(default="", description="what happens: the dialogue step writes lines from it")
    place: Ident | None = None
    characters: list[Ident] = Field(default_factory=list, max_length=12)
    next: Ident | None = Field(default=None, description="scene that follows when there is no choice")


class Line(_Model):
    id: Ident
    speaker: Ident | None = Field(description="character id; None: narration")
    text: Annotated[str, Field(min_length=1, max_length=2000)]
    expression: Annotated[str, Field(max_length=40, pattern=r"^[a-z0-9_]*$")] = ""
    direction: Annotated[str, Field(max_length=300)] = ""
    review: Review = Review.PENDING
    voice: ProjectPath | None = Field(default=None, description="voice file (relative to the project folder)")
    voice_seconds: float | None = None


class ImageAsset(_Model):
    key: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]  # e.g. "bg" or "<character>_<expression>"
    path: ProjectPath
    sha256: Sha256
    review: Review = Review.PENDING
    score: float | None = Field(default=None, description="similarity to the references; None: unscored")
    outlier: bool = False
    attempt: int = Field(default=0, ge=0, description="how many times it was made again after a rejection")
    provenance_path: ProjectPath


class Scene(SceneIn):
    id: Ident
    lines: list[Line] = Field(default_factory=list)
    choices: list[ChoiceOption] = Field(default_factory=list)
    images: list[ImageAsset] = Field(default_factory=list)
    done: list[Stage] = Field(default_factory=list, description="stages finished for this scene")
    dialogue_raw: str | None = Field(default=None, description="the model's last rejected reply, kept")


class ProjectIn(_Model):
    title: Name
    description: Text = ""
    style: Text = Field(default="", description="art style prompt added to every image prompt")
    template: str = Field(default="txt2img", pattern=r"^[a-z0-9_\-]{1,60}$")
    reference_template: str = Field(default="ipadapter_faceid", pattern=r"^[a-z0-9_\-]{1,60}$")


class Project(ProjectIn):
    id: Ident
    revision: int = 0
    updated: datetime = Field(default_factory=utcnow)
    characters: dict[str, Character] = Field(default_factory=dict)
    places: dict[str, Place] = Field(default_factory=dict)
    chapters: dict[str, Chapter] = Field(default_factory=dict)
    scenes: dict[str, Scene] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Project:
        """Every id a scene names exists, and each map's key is its item's id."""
        for kind, items in (("characters", self.characters), ("places", self.places),
                            ("chapters", self.chapters), ("scenes", self.scenes)):
            for key, item in items.items():
                if key != item.id:
                    raise ValueError(f"{kind}.{key}: key differs from id {item.id!r}")
        for s in self.scenes.values():
            if s.chapter not in self.chapters:
                raise ValueError(f"scenes.{s.id}.chapter: no chapter {s.chapter!r}")
            if s.place is not None and s.place not in self.places:
                raise ValueError(f"scenes.{s.id}.place: no place {s.place!r}")
            for c in s.characters:
                if c not in self.characters:
                    raise ValueError(f"scenes.{s.id}.characters: no character {c!r}")
        return self

    def ordered_scenes(self) -> list[Scene]:
        """Scenes in reading order: by chapter order, then scene order, then id."""
        chap = {c.id: (c.order, c.id) for c in self.chapters.values()}
        return sorted(self.scenes.values(), key=lambda s: (chap[s.chapter], s.order, s.id))

    def next_unfinished(self) -> Scene | None:
        """The first scene in reading order whose pipeline has not finished (export not done)."""
        return next((s for s in self.ordered_scenes() if Stage.EXPORT not in s.done), None)
