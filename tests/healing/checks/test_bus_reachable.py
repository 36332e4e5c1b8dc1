from __future__ import annotations

import asyncio
from pathlib import Path

from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.healing.checks.bus_reachable import BusReachableCheck
from hydra_os.healing.const import IssueType
from hydra_os.healing.context import HealingContext
from hydra_os.sections.healing import HealingConfig


async def test_bus_up_then_down(tmp_path: Path, nats_server: EmbeddedNats, bus: Bus) -> None:
    ctx = HealingContext(HealingConfig(bus_timeout_s=0.5), "n1", tmp_path, bus=bus)
    rep = await BusReachableCheck().run(ctx)
    assert [str(t) for t in rep.checked] == ["bus"] and rep.issues == []
    await nats_server.stop()
    for _ in range(50):
        if not bus.status.connected:
            break
        await asyncio.sleep(0.05)
    [issue] = (await BusReachableCheck().run(ctx)).issues
    assert issue.type is IssueType.BUS_UNUSABLE
    assert str(issue.target) == "bus" and "unreachable" in issue.summary


async def test_a_bus_without_hydras_buckets_is_not_usable(tmp_path: Path, bus: Bus) -> None:
    """A restarted server answers PING but has lost the memory-storage buckets: not healed yet."""
    ctx = HealingContext(HealingConfig(bus_timeout_s=2.0), "n1", tmp_path, bus=bus)
    await bus.js.delete_key_value("hydra_nodes")
    [issue] = (await BusReachableCheck().run(ctx)).issues
    assert "streams missing: KV_hydra_nodes" in issue.summary
    await bus.ensure_topology(3.0)
    assert (await BusReachableCheck().run(ctx)).issues == []
