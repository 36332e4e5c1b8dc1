"""Projects, characters, places, chapters and scenes: validated, stored with history, in the graph and the
``projects`` core block; renames close the old name; the HTTP routes and the bus verb share the ops."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from hydra_os.bus.client import Bus
from hydra_os.node import rpc
from hydra_os.node.rpc import NodeRpc
from memory.wiring import LocalMemory
from pipelines.creative.api import VERB, creative_router, rpc_handler
from pipelines.creative.errors import CreativeConflictError, CreativeInputError, CreativeNotFoundError
from pipelines.creative.model import ChapterIn, CharacterIn, ReferenceImage, Review, SceneIn
from pipelines.creative.ops import ChapterPut, CharacterPut, ReviewSet, ScenePut
from pipelines.creative.service import CreativeService
from pipelines.creative.store import ProjectStore
from tests.creative.conftest import make_project
from tests.standins.comfyui import png_bytes


async def test_a_project_is_stored_with_every_revision_in_its_history(service: CreativeService,
                                                                        tmp_path: Path) -> None:
    await make_project(service)
    p = await service.get("ebq")
    assert set(p.characters) == {"aria", "zoe"} and p.characters["zoe"].name == "Zoë"
    assert [s.id for s in p.ordered_scenes()] == ["s1", "s2"] and p.next_unfinished().id == "s1"  # type: ignore[union-attr]
    hist = await service.history("ebq")
    assert [h.revision for h in hist] == list(range(1, p.revision + 1))
    assert [h.target for h in hist][:3] == ["project:ebq", "character:aria", "character:zoe"]
    # a fresh store on the same folder reads the same project (it is on disk, not in memory)
    again = await ProjectStore(tmp_path / "creative").get("ebq")
    assert again == p


async def test_bad_input_names_the_field_and_stores_nothing(service: CreativeService) -> None:
    await make_project(service)
    rev = (await service.get("ebq")).revision
    with pytest.raises(ValidationError) as e:
        CharacterIn(name="X", colour="red")
    assert "colour" in str(e.value)
    with pytest.raises(CreativeConflictError, match="no character 'nobody'"):
        await service.put_scene(ScenePut(project="ebq", id="s3", scene=SceneIn(
            chapter="ch1", title="Ghost", characters=["aria", "nobody"])))
    with pytest.raises(CreativeConflictError, match="the red queen"):
        await service.put_character(CharacterPut(project="ebq", id="mira", character=CharacterIn(
            name="Mira", aliases=["The Red Queen"])))
    with pytest.raises(CreativeNotFoundError):
        await service.get("nope")
    assert (await service.get("ebq")).revision == rev


async def test_a_rename_closes_the_old_name_in_the_graph(service: CreativeService,
                                                         local_memory: LocalMemory) -> None:
    await make_project(service)
    old = (await service.get("ebq")).characters["aria"]
    out = await service.put_character(CharacterPut(project="ebq", id="aria", character=old.model_copy(
        update={"name": "Queen Aria"}).model_dump(exclude={"id"})))  # type: ignore[arg-type]
    assert out.renamed_from == "Aria" and out.memory == "updated"
    graph = local_memory.stack.graph
    facts = [f for f in await graph.facts_about("creative:ebq:aria") if f.type == "has_name"]
    by_name = {f.object: f for f in facts}
    assert set(by_name) == {"Aria", "Queen Aria"}
    assert by_name["Aria"].valid_to is not None and by_name["Queen Aria"].valid_to is None
    ent = await graph.resolve("the Red Queen")
    assert ent is not None and ent.name == "creative:ebq:aria"
    at_hall = {f.subject for f in await graph.facts_about("Throne Hall") if f.type == "appears_at"}
    assert {"Aria", "Zoë"} <= at_hall


async def test_the_projects_core_block_says_where_the_novel_stands(service: CreativeService,
                                                                   local_memory: LocalMemory) -> None:
    await make_project(service)
    block = await local_memory.stack.core.get_block("projects")
    lines = [ln for ln in block.value.splitlines() if ln.startswith("[creative:ebq]")]
    assert lines == ["[creative:ebq] Visual novel 'Empire of Broken Queens': 2 characters, 0/2 scenes done; "
                     "next: scene 'The broken crown' (s1)."]


async def test_without_memory_the_write_stands_and_memory_is_pending(tmp_path: Path) -> None:
    svc = CreativeService(ProjectStore(tmp_path / "c"), None)
    await make_project(svc)
    out = await svc.put_chapter(ChapterPut(project="ebq", id="ch2", chapter=ChapterIn(title="Embers", order=2)))
    assert out.memory.startswith("pending") and (await svc.get("ebq")).chapters["ch2"].title == "Embers"


async def test_review_of_a_missing_line_is_not_found(service: CreativeService) -> None:
    await make_project(service)
    with pytest.raises(CreativeNotFoundError, match="no line 'l9'"):
        await service.set_review(ReviewSet(project="ebq", scene="s1", line="l9", review=Review.REJECTED))


async def test_http_routes_validate_and_store(service: CreativeService) -> None:
    app = FastAPI()
    app.include_router(creative_router(service, None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/v1/creative/projects", json={"id": "ebq", "project": {"title": "Empire"}})
        assert r.status_code == 201 and r.json()["revision"] == 1
        r = await c.put("/v1/creative/projects/ebq/characters/aria", json={"name": "Aria", "colour": "#12"})
        assert r.status_code == 422 and "colour" in r.text
        r = await c.put("/v1/creative/projects/ebq/characters/Bad-Id", json={"name": "Aria"})
        assert r.status_code == 422
        r = await c.put("/v1/creative/projects/ebq/characters/aria", json={"name": "Aria", "colour": "#123456"})
        assert r.status_code == 200 and r.json()["target"] == "character:aria"
        r = await c.get("/v1/creative/projects/ebq")
        assert r.json()["characters"]["aria"]["colour"] == "#123456"


async def test_the_bus_verb_takes_the_same_operations(bus: Bus, service: CreativeService) -> None:
    node = NodeRpc(bus, "n1")
    node.handle(VERB, rpc_handler(service))
    await node.start()
    try:
        out = await rpc.call(bus, "n1", VERB, {"op": "project.create", "id": "ebq", "project": {"title": "E"}})
        assert out["revision"] == 1
        with pytest.raises(Exception, match=r"character\.name"):
            await rpc.call(bus, "n1", VERB, {"op": "character.put", "project": "ebq", "id": "a",
                                             "character": {"name": ""}})
        shown = await rpc.call(bus, "n1", VERB, {"op": "project.show", "project": "ebq"})
        assert json.dumps(shown) and shown["title"] == "E"
    finally:
        await node.stop()


def test_file_paths_cannot_leave_the_project_folder() -> None:
    for bad in ("../../etc/shadow", "/etc/shadow", "references/../../x.png", "a//b.png", "a\\b.png", ""):
        with pytest.raises(ValidationError):
            ReferenceImage(path=bad, sha256="0" * 64)
    assert ReferenceImage(path="references/aria 1.png", sha256="0" * 64).path == "references/aria 1.png"


async def test_a_reference_image_is_kept_with_its_hash(service: CreativeService) -> None:
    await make_project(service)
    app = FastAPI()
    app.include_router(creative_router(service, None))
    png = png_bytes(3)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/v1/creative/projects/ebq/characters/aria/references", content=png,
                         headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    ref = (await service.get("ebq")).characters["aria"].references[0]
    assert ref.sha256 == hashlib.sha256(png).hexdigest()
    assert (service.store.dir("ebq") / ref.path).read_bytes() == png
    with pytest.raises(CreativeInputError, match="PNG"):
        await service.add_reference("ebq", "aria", b"GIF89a...")
    with pytest.raises(CreativeNotFoundError, match="no character 'mira'"):
        await service.add_reference("ebq", "mira", png)
