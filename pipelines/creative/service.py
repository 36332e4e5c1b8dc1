"""The creative studio's operations: validated writes to the project store, each followed by a memory
sync (graph entities/facts and the ``projects`` core block).

The store is the source of truth. When memory is unreachable the write still stands and the answer
says the memory update is pending; the next write (or ``sync``) brings memory up to date, because the
sync is a full idempotent upsert of the project.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from hydra_os.errors import HydraError
from memory.core.atomic import atomic_write
from memory.protocols import MemoryStack
from pipelines.creative.errors import CreativeConflictError, CreativeInputError, CreativeNotFoundError
from pipelines.creative.memory_sync import sync_core, sync_graph
from pipelines.creative.model import (
    Chapter,
    Character,
    Place,
    Project,
    ReferenceImage,
    Review,
    Scene,
    SceneIn,
    Stage,
)
from pipelines.creative.ops import (
    Changed,
    ChapterPut,
    CharacterPut,
    PlacePut,
    ProjectCreate,
    ReviewSet,
    ScenePut,
)
from pipelines.creative.store import ProjectStore, Revision

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MemoryProvider = Callable[[], Awaitable[MemoryStack]]


def _names(c: Character) -> set[str]:
    return {n.casefold() for n in (c.name, *c.aliases)}


def _undo(scene: Scene, *stages: Stage) -> None:
    scene.done = [s for s in scene.done if s not in stages]


class CreativeService:
    def __init__(self, store: ProjectStore, memory: MemoryProvider | None = None) -> None:
        self.store = store
        self.memory = memory

    async def sync_memory(self, project: Project) -> str:
        if self.memory is None:
            return "pending: no memory client on this node"
        try:
            stack = await self.memory()
            await sync_graph(stack.graph, project)
            await sync_core(stack.core, project)
        except HydraError as e:
            return f"pending: {e}"
        return "updated"

    async def _changed(self, after: Project, target: str, renamed_from: str | None = None) -> Changed:
        return Changed(project=after.id, revision=after.revision, target=target, renamed_from=renamed_from,
                       memory=await self.sync_memory(after))

    async def create_project(self, req: ProjectCreate) -> Changed:
        p = await self.store.create(Project(id=req.id, **req.project.model_dump()))
        return await self._changed(p, f"project:{p.id}")

    async def get(self, project_id: str) -> Project:
        return await self.store.get(project_id)

    async def projects(self) -> list[Project]:
        return await self.store.projects()

    async def history(self, project_id: str) -> list[Revision]:
        return await self.store.history(project_id)

    async def put_character(self, req: CharacterPut) -> Changed:
        new = Character(id=req.id, **req.character.model_dump())

        def change(p: Project) -> Character:
            for other in p.characters.values():
                clash = _names(other) & _names(new)
                if other.id != new.id and clash:
                    raise CreativeConflictError(
                        f"character.name: {sorted(clash)[0]!r} is already character {other.id!r}'s name or alias")
            p.characters[new.id] = new
            return new

        before, after = await self.store.mutate(req.project, "put", f"character:{req.id}", change)
        old = before.characters.get(req.id)
        renamed = old.name if old is not None and old.name != new.name else None
        return await self._changed(after, f"character:{req.id}", renamed)

    async def put_place(self, req: PlacePut) -> Changed:
        new = Place(id=req.id, **req.place.model_dump())

        def change(p: Project) -> Place:
            p.places[new.id] = new
            return new

        before, after = await self.store.mutate(req.project, "put", f"place:{req.id}", change)
        old = before.places.get(req.id)
        return await self._changed(after, f"place:{req.id}", old.name if old and old.name != new.name else None)

    async def put_chapter(self, req: ChapterPut) -> Changed:
        def change(p: Project) -> Chapter:
            p.chapters[req.id] = Chapter(id=req.id, **req.chapter.model_dump())
            return p.chapters[req.id]

        _, after = await self.store.mutate(req.project, "put", f"chapter:{req.id}", change)
        return await self._changed(after, f"chapter:{req.id}")

    async def put_scene(self, req: ScenePut) -> Changed:
        def change(p: Project) -> SceneIn:
            old = p.scenes.get(req.id)
            fields = req.scene.model_dump()
            scene = old.model_copy(update=fields) if old else Scene(id=req.id, **fields)
            if old is not None and (old.outline, old.characters) != (scene.outline, scene.characters):
                _undo(scene, *Stage)  # what happens changed: every stage is made again
            p.scenes[req.id] = Scene.model_validate(scene.model_dump())
            return req.scene

        _, after = await self.store.mutate(req.project, "put", f"scene:{req.id}", change)
        return await self._changed(after, f"scene:{req.id}")

    async def add_reference(self, project: str, character: str, data: bytes) -> Changed:
        """Keep an image file as a reference of the character (``references/<character>_<sha12>.png``)."""
        if not data.startswith(PNG_MAGIC):
            raise CreativeInputError("body: expected the bytes of a PNG image")
        sha = hashlib.sha256(data).hexdigest()
        rel = f"references/{character}_{sha[:12]}.png"
        path = self.store.dir(project) / rel
        if character not in (await self.store.get(project)).characters:
            raise CreativeNotFoundError(f"character: no character {character!r} in project {project!r}")
        await asyncio.to_thread(_write_file, path, data)

        def change(p: Project) -> ReferenceImage:
            c = p.characters.get(character)
            if c is None:
                raise CreativeNotFoundError(f"character: no character {character!r} in project {project!r}")
            ref = ReferenceImage(path=rel, sha256=sha)
            if all(r.sha256 != sha for r in c.references):
                c.references.append(ref)
            return ref

        _, after = await self.store.mutate(project, "reference", f"character:{character}", change)
        return await self._changed(after, f"character:{character}")

    async def set_review(self, req: ReviewSet) -> Changed:
        if (req.line is None) == (req.image is None):
            raise CreativeConflictError("review: set exactly one of line or image")

        def change(p: Project) -> dict[str, str | None]:
            scene = p.scenes.get(req.scene)
            if scene is None:
                raise CreativeNotFoundError(f"scene: no scene {req.scene!r} in project {p.id!r}")
            if req.line is not None:
                line = next((ln for ln in scene.lines if ln.id == req.line), None)
                if line is None:
                    raise CreativeNotFoundError(f"line: no line {req.line!r} in scene {scene.id!r}")
                line.review = req.review
                if req.review is Review.REJECTED:
                    _undo(scene, Stage.DIALOGUE, Stage.VOICES, Stage.EXPORT)
            else:
                img = next((i for i in scene.images if i.key == req.image), None)
                if img is None:
                    raise CreativeNotFoundError(f"image: no image {req.image!r} in scene {scene.id!r}")
                img.review = req.review
                if req.review is Review.REJECTED:
                    _undo(scene, Stage.IMAGES, Stage.EXPORT)
                if req.add_reference:
                    _add_reference(p, scene, img.key, img.path, img.sha256, req.review)
            return {"line": req.line, "image": req.image, "review": req.review.value}

        _, after = await self.store.mutate(req.project, "review", f"scene:{req.scene}", change)
        return await self._changed(after, f"scene:{req.scene}")


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)


def _add_reference(p: Project, scene: Scene, key: str, path: str, sha: str, review: Review) -> None:
    if review is not Review.APPROVED:
        raise CreativeConflictError("add_reference: only an approved image can become a reference")
    who = next((c for c in scene.characters if key.startswith(f"{c}_") or key == c), None)
    if who is None:
        raise CreativeConflictError(f"add_reference: image {key!r} shows no character of the scene")
    refs = p.characters[who].references
    if all(r.sha256 != sha for r in refs):
        refs.append(ReferenceImage(path=path, sha256=sha))


async def pick(service: CreativeService, project: str | None, scene: str | None,
               text: str = "") -> tuple[Project, Scene | None]:
    """The project (named, or the one whose title the text mentions, else the latest) and its scene
    (named, else the next unfinished one; None when every scene is done)."""
    if project:
        p = await service.get(project)
    else:
        projects = await service.projects()
        if not projects:
            raise CreativeNotFoundError("there is no creative project yet ('hydra creative project create')")
        low = text.lower()
        named = [p for p in projects if p.title.lower() in low or p.id in low.split()]
        p = (named or sorted(projects, key=lambda p: p.updated))[-1]
    if scene:
        if scene not in p.scenes:
            raise CreativeNotFoundError(f"scene: no scene {scene!r} in project {p.id!r}")
        return p, p.scenes[scene]
    return p, p.next_unfinished()
