"""The gate's cluster view on real daemons: after a "switch" that takes node na off the network (here:
the daemon killed), the gate reports both that na's daemon does not answer and that nb no longer sees na;
before it, nothing."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig
from hydra_os.nixos.gate import ClusterGate
from tests.helpers import DaemonProc, NatsProc, daemon_env, wait_for

pytestmark = pytest.mark.e2e


async def test_gate_sees_what_the_other_nodes_see(tmp_path: Path, nats_proc: NatsProc) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[node]\nroles = ["gateway"]\n[healing]\ninterval_s = 3600\n'
                   "[membership]\nheartbeat_interval = 0.3\ngone_after = 1.2\n")
    env = daemon_env(HYDRA_CONFIG=str(cfg), HYDRA_BUS__URL=nats_proc.url)
    a = await asyncio.to_thread(DaemonProc("na", tmp_path / "na", env).start)
    b = await asyncio.to_thread(DaemonProc("nb", tmp_path / "nb", env).start)
    try:
        await asyncio.to_thread(wait_for, lambda: b.nodes() == ["na", "nb"], 10, 0.05, "nb sees na")
        async with Bus([nats_proc.url], BusConfig(), name="gate-test") as bus:
            gate = ClusterGate(bus, "na", gone_after=1.2)
            await gate.baseline()
            assert await gate() == []  # nothing changed
            await asyncio.to_thread(a.kill9)
            deadline = time.monotonic() + 20
            problems: list[str] = []
            while time.monotonic() < deadline:
                problems = await gate()
                if any("nb no longer sees na" in p for p in problems):
                    break
                await asyncio.sleep(0.3)
            assert any("daemon on na does not answer" in p for p in problems), problems
            assert any("node nb no longer sees na" in p for p in problems), problems
    finally:
        await asyncio.to_thread(b.stop)
        await asyncio.to_thread(a.stop)
