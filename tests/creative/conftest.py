"""Fixtures for the creative studio: real local memory stores (hashing embedder), a real project store
in a temporary state dir, and a small two-character project."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from memory.config import MemoryConfig
from memory.protocols import MemoryStack
from memory.wiring import LocalMemory, open_local
from pipelines.creative.model import ChapterIn, CharacterIn, PlaceIn, ProjectIn, SceneIn, Voice
from pipelines.creative.ops import ChapterPut, CharacterPut, PlacePut, ProjectCreate, ScenePut
from pipelines.creative.service import CreativeService
from pipelines.creative.store import ProjectStore
from tests.tasks.conftest import make_worker  # noqa: F401  (the tasks slice's real-worker fixture)


def memory_config() -> MemoryConfig:
    cfg = MemoryConfig()
    cfg.embed.backend = "hashing"
    return cfg


@pytest.fixture
async def local_memory(tmp_path: Path) -> AsyncIterator[LocalMemory]:
    local = await open_local(memory_config(), tmp_path / "mem")
    yield local
    await local.close()


@pytest.fixture
def service(tmp_path: Path, local_memory: LocalMemory) -> CreativeService:
    async def memory() -> MemoryStack:
        return local_memory.stack

    return CreativeService(ProjectStore(tmp_path / "creative"), memory)


async def make_project(svc: CreativeService, pid: str = "ebq") -> None:
    """Empire of Broken Queens: two characters, a place, one chapter with two scenes."""
    await svc.create_project(ProjectCreate(id=pid, project=ProjectIn(
        title="Empire of Broken Queens", description="A court intrigue.", style="painted, soft light")))
    await svc.put_character(CharacterPut(project=pid, id="aria", character=CharacterIn(
        name="Aria", aliases=["the Red Queen"], personality="proud, quick", speech_style="formal, clipped",
        appearance="young woman, red hair, silver circlet", colour="#ff8080",
        voice=Voice(voice="en-gb+f3", speed=1.1, pitch=60))))
    await svc.put_character(CharacterPut(project=pid, id="zoe", character=CharacterIn(
        name="Zoë", personality="wry", speech_style="casual", appearance="woman, short black hair, scar",
        colour="#80c0ff", voice=Voice(voice="en-us+m3", speed=0.9, pitch=35))))
    await svc.put_place(PlacePut(project=pid, id="hall", place=PlaceIn(
        name="Throne Hall", background="ruined throne hall, broken pillars")))
    await svc.put_chapter(ChapterPut(project=pid, id="ch1", chapter=ChapterIn(title="Ashes", order=1)))
    await svc.put_scene(ScenePut(project=pid, id="s1", scene=SceneIn(
        chapter="ch1", title="The broken crown", order=1, outline="Aria finds Zoë in the ruined hall.",
        place="hall", characters=["aria", "zoe"], next="s2")))
    await svc.put_scene(ScenePut(project=pid, id="s2", scene=SceneIn(
        chapter="ch1", title="The pact", order=2, outline="They agree to work together.", place="hall",
        characters=["aria", "zoe"])))
