"""The creative pipeline end to end: real task workers on a real nats-server, the chat stand-in, ComfyUI
stand-ins, real espeak-ng, the Ren'Py export validated; a worker killed mid-batch resumes without
making finished images again."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hydra_os.bus.client import Bus
from hydra_os.chat.client import OpenAIChat
from hydra_os.tasks.checkpoints import CheckpointStore
from hydra_os.tasks.model import TaskSpec
from hydra_os.tasks.registry import TaskRegistry
from pipelines.creative.model import Review, Stage
from pipelines.creative.ops import ReviewSet
from pipelines.creative.pipeline import ASSETS_KIND, SCENE_KIND, register
from pipelines.creative.renpy.parse import validate
from pipelines.creative.service import CreativeService
from pipelines.creative.store import ProjectStore
from tests.creative.conftest import make_project
from tests.creative.creative_worker import deps
from tests.helpers import REPO
from tests.standins.comfyui import ComfyStandin
from tests.standins.sources.chat_model import ChatStandin
from tests.tasks.conftest import MakeWorker, done, queue_for, wait_task

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture
async def chat_server() -> AsyncIterator[ChatStandin]:
    async with ChatStandin() as s:
        yield s


@pytest.fixture
async def chat(chat_server: ChatStandin) -> AsyncIterator[OpenAIChat]:
    model = OpenAIChat(chat_server.base_url, timeout_s=10)
    yield model
    await model.close()


async def test_a_scene_goes_from_outline_to_a_valid_renpy_export(
        bus: Bus, make_worker: MakeWorker, chat: OpenAIChat, service: CreativeService, tmp_path: Path) -> None:
    await make_project(service)
    async with ComfyStandin() as a, ComfyStandin() as b:
        d = deps([a.base, b.base], chat, tmp_path)
        d.service = service
        registry = TaskRegistry()
        register(registry, d)
        await make_worker(registry)
        q = queue_for(bus)
        task = (await q.enqueue(TaskSpec(kind=SCENE_KIND, params={"project": "ebq"}))).task
        t = await wait_task(q, task.id, done, 90)
    assert t.state == "succeeded", t.error
    r = t.result
    assert r["scene"] == "s1" and r["dialogue"] == {"status": "done", "lines": 5, "choices": 0, "attempts": 1}
    assert r["images"]["made"] == 5 and r["images"]["failed"] == {} and r["images"]["unscored"] == 5
    assert a.finished and b.finished  # both servers shared the batch
    assert r["voices"]["lines"] == 4 and r["voices"]["seconds"] > 1
    assert r["export"]["scene_done"] and r["export"]["missing"] == ["dialogue of scene s2"]
    assert "dialogue done (5 lines)" in r["summary"] and "5 unscored" in r["summary"]
    assert "10 lines/images wait for your review" in r["summary"]
    script = validate(Path(r["export"]["path"]) / "game")
    assert [s.who for s in script.labels["scene_s1"].says] == [None, "aria", "zoe", "aria", "zoe"]
    assert all(s.voice for s in script.labels["scene_s1"].says if s.who)
    p = await service.get("ebq")
    assert set(p.scenes["s1"].done) == set(Stage) and p.next_unfinished().id == "s2"  # type: ignore[union-attr]
    assert {i.key for i in p.scenes["s1"].images} == {"bg_hall", "aria_neutral", "aria_determined",
                                                      "zoe_neutral", "zoe_determined"}
    # the next run picks the next unfinished scene and reuses the sprites it already has
    async with ComfyStandin() as c:
        d2 = deps([c.base], chat, tmp_path)
        d2.service = service
        registry = TaskRegistry()
        register(registry, d2)
        await make_worker(registry, node="w2")
        t2 = await wait_task(q, (await q.enqueue(TaskSpec(kind=SCENE_KIND, params={}))).task.id, done, 90)
    assert t2.state == "succeeded", t2.error
    assert t2.result["scene"] == "s2" and t2.result["images"]["made"] == 0 and c.prompts == []
    assert t2.result["images"]["reused"] == 5
    s2 = (await service.get("ebq")).scenes["s2"]
    assert {i.key for i in s2.images} == {"bg_hall", "aria_neutral", "aria_determined", "zoe_neutral",
                                          "zoe_determined"}
    script = validate(Path(t2.result["export"]["path"]) / "game")
    assert ("scene", "bg hall") in script.labels["scene_s2"].shown


@pytest.mark.e2e
async def test_a_worker_killed_mid_batch_resumes_without_redoing_finished_images(
        bus: Bus, nats_server: object, make_worker: MakeWorker, chat: OpenAIChat, chat_server: ChatStandin,
        tmp_path: Path) -> None:
    service = CreativeService(ProjectStore(tmp_path / "creative"))
    await make_project(service)
    images = tmp_path / "creative" / "ebq" / "images"
    async with ComfyStandin(step_delay=0.4) as comfy:
        url = nats_server.url  # type: ignore[attr-defined]
        args = [sys.executable, "-m", "tests.creative.creative_worker", url, comfy.base, chat_server.base_url,
                str(tmp_path), "doomed"]
        proc = subprocess.Popen(args, cwd=str(REPO), stdout=subprocess.PIPE)  # noqa: ASYNC220 (to kill -9)
        try:
            assert proc.stdout is not None and (await asyncio.to_thread(proc.stdout.readline)).strip() == b"READY"
            q = queue_for(bus)
            task = (await q.enqueue(TaskSpec(kind=SCENE_KIND, params={"project": "ebq", "scene": "s1"}))).task
            for _ in range(600):
                if len(list(images.glob("*.json"))) >= 2:
                    break
                await asyncio.sleep(0.05)
            proc.kill()
            proc.wait(10)
            finished_before = {p.stem for p in images.glob("*.json")}
            assert 2 <= len(finished_before) < 5
            submitted_before = len(comfy.prompts)
            registry = TaskRegistry()
            register(registry, deps([comfy.base], chat, tmp_path))
            await make_worker(registry, node="survivor")
            t = await wait_task(q, task.id, done, 120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert t.state == "succeeded", t.error
    assert t.result["images"]["reused"] == len(finished_before)
    assert t.result["images"]["made"] == 5 - len(finished_before)
    # ComfyUI saw each finished image once: only the unfinished ones were submitted again
    assert len(comfy.prompts) - submitted_before == 5 - len(finished_before)
    cps = await CheckpointStore(q.store, task.id).all()
    assert (cps["choose"].node, cps["dialogue"].node) == ("doomed", "doomed") and cps["images"].node == "survivor"
    assert any("resumed: skipped finished steps choose, dialogue" in (h.detail or "") for h in t.history)


async def test_a_rejected_image_is_made_again_with_a_new_seed_and_nothing_else_is_redone(
        bus: Bus, make_worker: MakeWorker, chat: OpenAIChat, chat_server: ChatStandin, service: CreativeService,
        tmp_path: Path) -> None:
    await make_project(service)
    async with ComfyStandin() as comfy:
        d = deps([comfy.base], chat, tmp_path)
        d.service = service
        registry = TaskRegistry()
        register(registry, d)
        await make_worker(registry)
        q = queue_for(bus)
        spec = TaskSpec(kind=SCENE_KIND, params={"project": "ebq", "scene": "s1"})
        first = await wait_task(q, (await q.enqueue(spec)).task.id, done, 90)
        assert first.state == "succeeded", first.error
        old = {i.key: i for i in (await service.get("ebq")).scenes["s1"].images}
        chats = len(chat_server.log)
        await service.set_review(ReviewSet(project="ebq", scene="s1", image="aria_neutral", review=Review.REJECTED))
        await service.set_review(ReviewSet(project="ebq", scene="s1", image="zoe_neutral", review=Review.APPROVED,
                                           add_reference=True))
        assert Stage.IMAGES not in (await service.get("ebq")).scenes["s1"].done
        again = await wait_task(q, (await q.enqueue(spec)).task.id, done, 90)
    assert again.state == "succeeded", again.error
    r = again.result
    assert r["dialogue"]["status"] == "kept" and len(chat_server.log) == chats  # no new dialogue
    assert r["images"]["made"] == 1 and r["images"]["reused"] == 4 and r["voices"]["made"] == 0
    p = await service.get("ebq")
    new = {i.key: i for i in p.scenes["s1"].images}
    assert new["aria_neutral"].attempt == 1 and new["aria_neutral"].sha256 != old["aria_neutral"].sha256
    assert new["aria_neutral"].review is Review.PENDING and new["zoe_neutral"].review is Review.APPROVED
    assert p.characters["zoe"].references[0].path == "images/zoe_neutral.png"
    assert set(p.scenes["s1"].done) == set(Stage)


async def test_the_overnight_asset_batch_makes_every_unfinished_scenes_images(
        bus: Bus, make_worker: MakeWorker, service: CreativeService, tmp_path: Path) -> None:
    await make_project(service)
    async with ComfyStandin() as comfy:
        d = deps([comfy.base], None, tmp_path)  # type: ignore[arg-type]
        d.service = service
        registry = TaskRegistry()
        register(registry, d)
        await make_worker(registry)
        q = queue_for(bus)
        t = await wait_task(q, (await q.enqueue(TaskSpec(kind=ASSETS_KIND, params={"request": "assets"}))).task.id,
                            done, 90)
    assert t.state == "succeeded", t.error
    scenes = t.result["scenes"]
    assert set(scenes) == {"s1", "s2"} and scenes["s1"]["made"] == 3 and scenes["s2"]["made"] == 0
    assert scenes["s2"]["reused"] == 3 and comfy.finished == 3  # the sprites and background are shared
    p = await service.get("ebq")
    assert all(Stage.IMAGES in s.done for s in p.scenes.values())


async def test_dialogue_that_keeps_breaking_the_schema_fails_the_task_and_keeps_the_reply(
        bus: Bus, make_worker: MakeWorker, chat: OpenAIChat, chat_server: ChatStandin, service: CreativeService,
        tmp_path: Path) -> None:
    await make_project(service)
    chat_server.replies["creative_dialogue"] = ["nope"] * 3
    d = deps([], chat, tmp_path)
    d.service = service
    registry = TaskRegistry()
    register(registry, d)
    await make_worker(registry)
    q = queue_for(bus)
    t = await wait_task(q, (await q.enqueue(TaskSpec(kind=SCENE_KIND, params={"project": "ebq"}))).task.id, done, 60)
    assert t.state == "failed" and "broke the schema 3 times" in (t.error or "") and t.failures == 1
    s1 = (await service.get("ebq")).scenes["s1"]
    assert s1.dialogue_raw == "nope" and s1.lines == [] and Stage.DIALOGUE not in s1.done
