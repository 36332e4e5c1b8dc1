"""Intake's creative requests on a real bus: 'continue the visual novel' queues the project's next
unfinished scene and says which; 'generate the next batch of character assets' waits for the overnight
window; with no creative worker nothing is queued."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hydra_os.bus.client import Bus
from hydra_os.config import Settings
from hydra_os.intake.model import RequestIn
from hydra_os.intake.service import IntakeService
from hydra_os.node.rpc import NodeRpc
from hydra_os.tasks.registry import TaskRegistry
from hydra_os.tasks.windows import Windows
from pipelines.creative.api import VERB, rpc_handler
from pipelines.creative.pipeline import ASSETS_KIND, SCENE_KIND, register
from pipelines.creative.service import CreativeService
from tests.creative.conftest import make_project
from tests.creative.creative_worker import deps
from tests.tasks.conftest import MakeWorker, queue_for


@pytest.fixture
async def creative_node(bus: Bus, service: CreativeService) -> AsyncIterator[NodeRpc]:
    node = NodeRpc(bus, "n1")
    node.handle(VERB, rpc_handler(service))
    await node.start()
    yield node
    await node.stop()


def intake(bus: Bus, tmp_path: Path) -> IntakeService:
    s = Settings(node={"id": "n1", "state_dir": tmp_path / "state"})
    q = queue_for(bus)
    q.windows = Windows(s.owner)
    return IntakeService(s, s.intake, q, "n1")


async def test_continue_the_visual_novel_queues_the_next_scene_and_names_it(
        bus: Bus, make_worker: MakeWorker, service: CreativeService, creative_node: NodeRpc, tmp_path: Path) -> None:
    await make_project(service)
    svc = intake(bus, tmp_path)
    r = await svc.handle(RequestIn(text="continue the visual novel"))
    assert r.status == "unsupported" and r.task_id is None  # no worker serves the creative kinds yet
    registry = TaskRegistry()
    d = deps([], None, tmp_path)  # type: ignore[arg-type]
    d.service = service
    register(registry, d)
    await make_worker(registry)
    r = await svc.handle(RequestIn(text="continue the visual novel Empire of Broken Queens"))
    assert r.status == "queued", r.reply
    assert "scene 'The broken crown' of 'Empire of Broken Queens'" in r.reply
    task = await svc.queue.get(r.task_id)  # type: ignore[arg-type]
    assert task.kind == SCENE_KIND and task.params["project"] == "ebq" and task.params["scene"] == "s1"
    assert task.window is None
    r = await svc.handle(RequestIn(text="generate the next batch of character assets"))
    assert r.status == "queued" and "character assets of 'Empire of Broken Queens'" in r.reply
    task = await svc.queue.get(r.task_id)  # type: ignore[arg-type]
    assert task.kind == ASSETS_KIND and task.window == "overnight"
