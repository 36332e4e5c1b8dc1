"""``/v1/creative/*`` (behind the API token) and the ``creative`` node RPC verb (``hydra creative``).

Both take the operation models of :mod:`pipelines.creative.ops`; errors are the creative package's
``HydraError`` subclasses, turned into their status and code by the API's one exception handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, ValidationError

from hydra_os.api.docs import CONFLICT
from pipelines.creative import digest
from pipelines.creative.errors import CreativeInputError
from pipelines.creative.model import ChapterIn, CharacterIn, Ident, PlaceIn, Project, SceneIn
from pipelines.creative.ops import (
    Changed,
    ChapterPut,
    CharacterPut,
    PlacePut,
    ProjectCreate,
    ProjectRef,
    ReferenceAdd,
    ReviewSet,
    ScenePut,
)
from pipelines.creative.service import CreativeService, pick
from pipelines.creative.store import Revision
from pipelines.creative_digest import DigestRequest
from pipelines.creative_kinds import VERB

__all__ = ["VERB", "creative_router", "rpc_handler"]


# documented answers besides the ones every route has (hydra_os.api.docs.document_errors)
ERRORS: dict[int | str, dict[str, Any]] = {
    **CONFLICT,
    404: {"description": "No such project, scene, line or image.",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}},
}


def creative_router(svc: CreativeService, auth: Any) -> APIRouter:
    deps = [Depends(auth)] if auth is not None else []
    r = APIRouter(prefix="/v1/creative", tags=["creative"], dependencies=deps, responses=ERRORS)

    @r.get("/projects", summary="Every creative project")
    async def projects() -> list[Project]:
        return await svc.projects()

    @r.post("/projects", summary="Create a project", status_code=201)
    async def create(req: ProjectCreate) -> Changed:
        return await svc.create_project(req)

    @r.get("/projects/{project}", summary="A project with its characters, places, chapters and scenes")
    async def project(project: Ident) -> Project:
        return await svc.get(project)

    @r.get("/projects/{project}/history", summary="Every revision of a project, oldest first")
    async def history(project: Ident) -> list[Revision]:
        return await svc.history(project)

    @r.put("/projects/{project}/characters/{id}", summary="Create or change a character (a new name renames)")
    async def character(project: Ident, id: Ident, body: CharacterIn) -> Changed:
        return await svc.put_character(CharacterPut(project=project, id=id, character=body))

    @r.post("/projects/{project}/characters/{id}/references", summary="Add a reference image (the PNG as body)",
            openapi_extra={"requestBody": {"required": True, "content": {"image/png": {
                "schema": {"type": "string", "format": "binary"}}}}})
    async def reference(project: Ident, id: Ident, request: Request) -> Changed:
        return await svc.add_reference(project, id, await request.body())

    @r.put("/projects/{project}/places/{id}", summary="Create or change a place")
    async def place(project: Ident, id: Ident, body: PlaceIn) -> Changed:
        return await svc.put_place(PlacePut(project=project, id=id, place=body))

    @r.put("/projects/{project}/chapters/{id}", summary="Create or change a chapter")
    async def chapter(project: Ident, id: Ident, body: ChapterIn) -> Changed:
        return await svc.put_chapter(ChapterPut(project=project, id=id, chapter=body))

    @r.put("/projects/{project}/scenes/{id}", summary="Create or change a scene")
    async def scene(project: Ident, id: Ident, body: SceneIn) -> Changed:
        return await svc.put_scene(ScenePut(project=project, id=id, scene=body))

    @r.post("/reviews", summary="Approve or reject a generated line or image")
    async def review(req: ReviewSet) -> Changed:
        return await svc.set_review(req)

    return r


def _ops(svc: CreativeService) -> dict[str, tuple[type[BaseModel], Callable[[Any], Awaitable[Any]]]]:
    async def get(req: ProjectRef) -> Project:
        return await svc.get(req.project)

    async def history(req: ProjectRef) -> dict[str, Any]:
        return {"revisions": [r.model_dump(mode="json") for r in await svc.history(req.project)]}

    async def listing(_: ProjectRef | None = None) -> dict[str, Any]:
        return {"projects": [p.model_dump(mode="json") for p in await svc.projects()]}

    async def nxt(req: NextScene) -> dict[str, Any]:
        p, s = await pick(svc, req.project, None, req.text)
        return {"project": p.id, "project_title": p.title, "scene": s.id if s else None,
                "title": s.title if s else None}

    return {
        "project.create": (ProjectCreate, svc.create_project),
        "project.show": (ProjectRef, get),
        "project.history": (ProjectRef, history),
        "character.put": (CharacterPut, svc.put_character),
        "character.reference": (ReferenceAdd, lambda req: svc.add_reference(req.project, req.character, req.png)),
        "place.put": (PlacePut, svc.put_place),
        "chapter.put": (ChapterPut, svc.put_chapter),
        "scene.put": (ScenePut, svc.put_scene),
        "review.set": (ReviewSet, svc.set_review),
        "project.list": (_Empty, listing),
        "project.next": (NextScene, nxt),
        "digest": (DigestRequest, lambda req: digest.collect(svc.store, req)),
    }


class _Empty(BaseModel):
    pass


class NextScene(BaseModel):
    """The project a request names (by title or id; else the latest) and its next unfinished scene."""

    project: Ident | None = None
    text: str = Field(default="", max_length=2000)


def rpc_handler(svc: CreativeService) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    """``{"op": "character.put", ...the op's fields}`` -> the op's answer as JSON."""
    ops = _ops(svc)

    async def handle(params: dict[str, Any]) -> dict[str, Any]:
        op = params.pop("op", None)
        if op not in ops:
            raise CreativeInputError(f"op: expected one of {', '.join(sorted(ops))}, got {op!r}")
        model, fn = ops[op]
        try:
            req = model.model_validate(params)
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "request"
            raise CreativeInputError(f"{field}: {err['msg']}") from None
        out = await fn(req)
        return out.model_dump(mode="json") if isinstance(out, BaseModel) else dict(out)

    return handle
