"""The healing verbs take the same pydantic models over node RPC as over HTTP: a bad parameter is
refused on both, naming the field and what was expected (a real healing component, a real bus)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from hydra_os.bus.client import Bus
from hydra_os.component import NodeContext
from hydra_os.config import Settings
from hydra_os.errors import RpcError
from hydra_os.events import EventLog
from hydra_os.healing.component import HealingService
from hydra_os.node import rpc
from hydra_os.node.info import NodeInfo
from hydra_os.node.membership import Membership
from hydra_os.node.rpc import NodeRpc
from tests.healing.conftest import make_gate


@pytest.fixture
async def healing(bus: Bus, tmp_path: Path) -> AsyncIterator[HealingService]:
    s = Settings(node={"id": "n1", "state_dir": tmp_path / "state", "roles": ["gateway"]},
                 healing={"interval_s": 3600})
    events = EventLog(bus, "n1")
    await events.start()
    node_rpc = NodeRpc(bus, "n1")

    async def info() -> NodeInfo:
        now = time.time()
        return NodeInfo(id="n1", incarnation="i", roles=["gateway"], version="0", api_url=None, pid=1,
                        started_at=now, heartbeat_at=now, uptime_s=1, cpu_count=1, cpu_percent=1.0,
                        load_avg_1m=0.1, mem_total_mb=1000, mem_available_mb=500)

    ctx = NodeContext(s, bus, events, node_rpc, Membership(bus, events, "n1", info))
    service = HealingService(ctx, await make_gate(bus))
    node_rpc.handle_all(service.rpc_handlers())  # what hydra_os.wiring.register does for every component
    await node_rpc.start()
    try:
        yield service
    finally:
        await node_rpc.stop()
        await service.stop()


@pytest.mark.parametrize(("verb", "params", "expected"), [
    ("heal.incidents", {"all": "maybe"}, "all: Input should be a valid boolean"),
    ("heal.run", {"checks": "bus_reachable"}, "checks: Input should be a valid list"),
    ("heal.run", {"checks": ["bus_reachable", 7]}, "checks.1: Input should be a valid string"),
    ("heal.restart", {}, "name: Field required"),
    ("heal.restart", {"name": ""}, "name: String should have at least 1 character"),
])
async def test_a_bad_parameter_over_node_rpc_names_the_field(
    healing: HealingService, bus: Bus, verb: str, params: dict[str, object], expected: str
) -> None:
    with pytest.raises(RpcError, match=expected):
        await rpc.call(bus, "n1", verb, params, timeout=30)


async def test_the_rpc_and_http_twins_take_the_same_parameters(healing: HealingService, bus: Bus) -> None:
    out = await rpc.call(bus, "n1", "heal.run", {"checks": ["bus_reachable"]}, timeout=60)
    assert out["round"] is not None
    assert (await rpc.call(bus, "n1", "heal.incidents", {"all": True}, timeout=30)) == {"incidents": []}

    app = FastAPI()
    app.include_router(healing.router(lambda: None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node") as c:
        r = await c.post("/v1/healing/run", json={"checks": ["bus_reachable", 7]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "checks", 1], r.text
        r = await c.post("/v1/healing/run", json={"checks": ["bus_reachable"]})
        assert r.status_code == 200 and r.json()["round"] is not None, r.text
        r = await c.get("/v1/healing/incidents", params={"all": "maybe"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "all"], r.text
