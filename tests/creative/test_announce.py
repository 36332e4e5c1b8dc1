"""ComfyUI servers announced over the bus like model endpoints: a GPU node's announcer puts its servers into
``hydra_services`` on a real nats-server; the batch uses the configured and the announced ones together;
a stopped announcer's servers are gone at once, a silent one's after ``gone_after``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hydra_os.bus import names
from hydra_os.bus.client import Bus, kv_values
from hydra_os.bus.permissions import node_permissions
from hydra_os.component import NodeContext
from hydra_os.config import Settings
from hydra_os.errors import BusError
from hydra_os.events import EventLog
from hydra_os.node import services
from hydra_os.node.info import NodeInfo
from hydra_os.node.membership import Membership
from hydra_os.node.rpc import NodeRpc
from pipelines.creative.component import CreativeComponent
from pipelines.creative.pipeline import COMFYUI, CreativeDeps, make_images
from pipelines.creative.service import CreativeService
from pipelines.creative_config import CreativeConfig
from tests.creative.conftest import make_project
from tests.standins.comfyui import ComfyStandin


@pytest.fixture
async def two() -> AsyncIterator[tuple[ComfyStandin, ComfyStandin]]:
    async with ComfyStandin(step_delay=0.05) as a, ComfyStandin(step_delay=0.05) as b:
        yield a, b


async def test_the_batch_uses_configured_and_announced_servers(
        bus: Bus, service: CreativeService, two: tuple[ComfyStandin, ComfyStandin]) -> None:
    configured, lent = two
    await make_project(service)

    async def announced() -> list[str]:
        return [i.url for i in await services.announced(bus, COMFYUI, 3.0)]

    deps = CreativeDeps(CreativeConfig(comfyui_urls=[configured.base], comfyui_timeout_s=60,
                                       comfyui_request_timeout_s=5), service, announced=announced)
    gpu = services.ServiceAnnouncer(bus, "gpu1", COMFYUI, [lent.base], refresh_interval=0.2)
    async with gpu:
        assert await deps.comfyui_urls() == [configured.base, lent.base]
        p = await service.get("ebq")
        r = await make_images(deps, p, p.scenes["s1"], None)
    assert r["made"] == 3 and not r["failed"]
    assert configured.finished and lent.finished and configured.finished + lent.finished == 3  # both took work
    # stopped: its servers are withdrawn at once, the configured one stays
    assert await deps.comfyui_urls() == [configured.base]
    assert await kv_values(await bus.kv(names.SERVICES_BUCKET)) == []


async def test_an_announcement_not_refreshed_is_ignored_and_a_bad_bus_leaves_the_configured(
        bus: Bus, service: CreativeService) -> None:
    kv = await bus.kv(names.SERVICES_BUCKET)
    stale = services.ServiceInfo(kind=COMFYUI, url="http://10.0.0.9:8188", node="old", updated_at=time.time() - 60)
    await kv.put(services.service_key("old", COMFYUI, stale.url), stale.model_dump_json().encode())
    other = services.ServiceInfo(kind="speech", url="http://10.0.0.8:8880", node="n2")
    await kv.put(services.service_key("n2", "speech", other.url), other.model_dump_json().encode())
    assert await services.announced(bus, COMFYUI, 3.0) == []
    assert [i.url for i in await services.announced(bus, "speech", 3.0)] == [other.url]

    async def down() -> list[str]:
        raise BusError("bucket hydra_services does not exist")

    deps = CreativeDeps(CreativeConfig(comfyui_urls=["http://10.0.0.5:8188"]), service, announced=down)
    assert await deps.comfyui_urls() == ["http://10.0.0.5:8188"]


def test_a_node_may_write_only_its_own_announcements() -> None:
    allow = node_permissions("gpu1")["publish"]["allow"]
    assert names.kv_subject(names.SERVICES_BUCKET, "gpu1.>") in allow
    assert not any(a.startswith(names.kv_subject(names.SERVICES_BUCKET, "")) and "gpu1" not in a for a in allow)


@pytest.mark.parametrize(("roles", "lent"), [(["gpu", "worker"], True), (["worker"], False)])
async def test_a_gpu_node_with_comfyui_urls_announces_them(bus: Bus, tmp_path: Path, roles: list[str],
                                                           lent: bool) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "api-token").write_text("t" * 32)
    s = Settings.model_validate({"node": {"id": "gpu1", "state_dir": state, "roles": roles},
                                 "creative": {"comfyui_urls": ["http://10.0.0.7:8188"]}})
    events = EventLog(bus, "gpu1")
    rpc = NodeRpc(bus, "gpu1")

    async def info() -> NodeInfo:
        raise AssertionError("membership is not started here")

    ctx = NodeContext(s, bus, events, rpc, Membership(bus, events, "gpu1", info))
    component = CreativeComponent(ctx, None)  # type: ignore[arg-type]  (the task system is not used to build it)
    async with component:
        urls = [i.url for i in await services.announced(bus, COMFYUI, 3.0)]
        assert urls == (["http://10.0.0.7:8188"] if lent else [])
        assert component.status()["comfyui_announced"] is lent
    assert await services.announced(bus, COMFYUI, 3.0) == []
