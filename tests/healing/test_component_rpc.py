"""The healing component's node RPC verbs, through a real NodeContext on a real bus."""
from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hydra_os.bus.client import Bus
from hydra_os.component import NodeContext
from hydra_os.config import Settings
from hydra_os.events import EventLog
from hydra_os.healing.component import HealingService
from hydra_os.node.info import NodeInfo
from hydra_os.node.membership import Membership
from hydra_os.node.rpc import NodeRpc, RpcError, call
from tests.healing.conftest import make_gate

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


async def _service(bus: Bus, tmp_path: Path, **healing: Any) -> tuple[HealingService, NodeRpc]:
    s = Settings(node={"id": "n1", "state_dir": tmp_path / "state", "roles": ["gateway"]},
                 healing={"interval_s": 3600, "check_bus": False,
                          "children": [{"name": "worker-a", "argv": SLEEPER}], **healing})
    events = EventLog(bus, "n1")
    await events.start()
    rpc = NodeRpc(bus, "n1")

    async def info() -> NodeInfo:
        now = time.time()
        return NodeInfo(id="n1", incarnation="i", roles=["gateway"], version="0", api_url=None, pid=1,
                        started_at=now, heartbeat_at=now, uptime_s=1, cpu_count=1, cpu_percent=1.0,
                        load_avg_1m=0.1, mem_total_mb=1000, mem_available_mb=500)

    ctx = NodeContext(s, bus, events, rpc, Membership(bus, events, "n1", info))
    healing = HealingService(ctx, await make_gate(bus))
    rpc.handle_all(healing.rpc_handlers())  # what hydra_os.wiring.register does for every component
    await rpc.start()
    return healing, rpc


@pytest.fixture
async def no_restart(bus: Bus, tmp_path: Path) -> AsyncIterator[HealingService]:
    healing, rpc = await _service(bus, tmp_path, disabled_fixups=["restart_process"])
    try:
        yield healing
    finally:
        await rpc.stop()


async def test_restart_with_restart_process_disabled_is_a_clear_refusal(bus: Bus, no_restart: HealingService) -> None:
    """It used to crash the verb with 'coroutine raised StopIteration' (a 500) from a next() lookup."""
    with pytest.raises(RpcError) as e:
        await call(bus, "n1", "heal.restart", {"name": "worker-a"}, timeout=10)
    msg = str(e.value)
    assert "StopIteration" not in msg
    assert "restart_process" in msg and "disabled" in msg


async def test_restart_goes_through_the_gate_and_restarts_the_child(bus: Bus, tmp_path: Path) -> None:
    healing, rpc = await _service(bus, tmp_path)
    await healing.start()
    try:
        pid = healing.supervisor.state("worker-a").pid
        out = (await call(bus, "n1", "heal.restart", {"name": "worker-a"}, timeout=30))["outcome"]
        assert out["status"] == "succeeded" and out["action"]["kind"] == "process.restart"
        assert out["action"]["target"] == "process:worker-a"
        after = healing.supervisor.state("worker-a")
        assert after.restarts == 1 and after.pid != pid
    finally:
        await healing.stop()
        await rpc.stop()
