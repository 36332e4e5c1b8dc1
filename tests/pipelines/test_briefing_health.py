"""The briefing's availability and NixOS parts, read over node RPC from a real healing component.

A real NodeContext on a real bus (events, node RPC, membership heartbeats) runs the healing service;
its availability record is filled by real check rounds (the bus check), and its NixOS ledgers by the
same classes the safe switch and the rollback fixup write with.
"""

from __future__ import annotations

import time
from pathlib import Path

from hydra_os.bus.client import Bus
from hydra_os.component import NodeContext
from hydra_os.config import Settings
from hydra_os.events import EventLog
from hydra_os.healing.component import HealingService
from hydra_os.nixos.ledger import FailedRevisions, Rollbacks
from hydra_os.node.info import NodeInfo
from hydra_os.node.membership import Membership
from hydra_os.node.rpc import NodeRpc
from hydra_os.tasks.registry import TaskRegistry
from hydra_os.wiring import register
from pipelines.briefing import collect
from pipelines.briefing.model import Briefing
from pipelines.briefing.render import markdown
from tests.healing.conftest import make_gate


async def test_briefing_shows_availability_failed_revisions_and_rollbacks(bus: Bus, tmp_path: Path) -> None:
    s = Settings(node={"id": "n1", "state_dir": tmp_path / "state", "roles": ["gateway"]},
                 owner={"timezone": "UTC"}, healing={"interval_s": 3600})
    events = EventLog(bus, "n1")
    await events.start()
    rpc = NodeRpc(bus, "n1")

    async def info() -> NodeInfo:
        now = time.time()
        return NodeInfo(id="n1", incarnation="i", roles=["gateway"], version="0", api_url=None, pid=1,
                        started_at=now, heartbeat_at=now, uptime_s=1, cpu_count=1, cpu_percent=1.0,
                        load_avg_1m=0.1, mem_total_mb=1000, mem_available_mb=500)

    membership = Membership(bus, events, "n1", info, heartbeat_interval=0.5, gone_after=3)
    ctx = NodeContext(s, bus, events, rpc, membership)
    healing = HealingService(ctx, await make_gate(bus))
    register(ctx, TaskRegistry(), [healing])  # its heal.* verbs, as the wiring does
    await rpc.start()
    await membership.start()
    try:
        before = time.time()
        await healing.healer.run_once()
        await healing.healer.run_once()
        nixdir = tmp_path / "state" / "nixos"
        FailedRevisions(nixdir / "failed-revisions.json").record("rev-bad", "/nix/store/x-sys", "exit 4: nginx failed")
        Rollbacks(nixdir / "rollbacks.json").record("/nix/store/y-sys", "/nix/store/z-sys", "unit:nats.service",
                                                    ok=True, detail="hydra-os-nixos@rollback-3.service")
        b = Briefing(since=before, until=time.time() + 1, timezone="UTC", owner="Sam")
        await collect.collect_health(b, bus, gone_after=3)
    finally:
        await membership.stop()
        await rpc.stop()
        await healing.stop()
    assert b.problems == []
    targets = {(u.node, u.target): u for u in b.uptime}
    assert targets[("n1", "bus")].up and targets[("n1", "bus")].availability_24h == 1.0
    assert any(t.startswith("disk:") for _, t in targets)  # the state dir, watched by default
    md = markdown(b)
    part = md.split("## Availability (24 h / 30 days)")[1]
    assert "n1 bus: up, 100.00% / 100.00%" in part
    nixos = md.split("## NixOS: failed revisions and rollbacks")[1]
    assert "n1: revision rev-bad failed its health gate" in nixos and "exit 4: nginx failed" in nixos
    assert "n1: rolled back NixOS from /nix/store/y-sys to /nix/store/z-sys because of unit:nats.service" in nixos
