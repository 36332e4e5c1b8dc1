"""Restore into a fresh cluster's bus (``bus.url``): the streams go into that server, the audit heads
are advanced and written, and the chain verifies there; a bus that already has the streams is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from hydra_os.backup.errors import RestoreTargetError
from hydra_os.backup.restore import restore_backup
from hydra_os.backup.take import take_backup
from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig, Settings
from hydra_os.events import EventLog
from hydra_os.policy.audit import read_events, stream_facts, verify_chains
from hydra_os.policy.chainhead import HEAD_FILE, ChainHead, ChainHeadStore, recorded_heads
from tests.helpers import NatsProc


async def test_restore_into_a_fresh_cluster_bus(bus: Bus, nats_proc: NatsProc, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    events = EventLog(bus, "n1", head_store=ChainHeadStore(src, bus, "n1"))
    await events.start()
    for i in range(5):
        await events.publish("drill.step", {"i": i})
    await events.stop()
    settings = Settings(node={"id": "n1", "state_dir": src}, backup={"destination": tmp_path / "out"})  # type: ignore[arg-type]
    taken = await take_backup(settings, bus, None)

    target = Settings(node={"id": "n1", "state_dir": tmp_path / "dst"},  # type: ignore[arg-type]
                      bus={"url": [nats_proc.url]})  # type: ignore[arg-type]
    done = await restore_backup(taken.path, target)
    assert "HYDRA_EVENTS" in done.streams and not (tmp_path / "dst" / "nats").exists()  # streams went to the bus
    async with Bus([nats_proc.url], BusConfig(), name="check") as fresh:
        got = await read_events(fresh)
        assert [e.event.data["i"] for e in got if e.event and e.event.type == "drill.step"] == list(range(5))
        heads = await recorded_heads(fresh)
        reports = verify_chains(got, stream=await stream_facts(fresh), recorded=heads)
        assert reports["n1"].ok, reports["n1"].problems
        assert heads["n1"].hash == got[-1].event.hash  # type: ignore[union-attr]
    own = ChainHead.model_validate_json((tmp_path / "dst" / HEAD_FILE).read_bytes())
    assert own == heads["n1"]

    again = target.model_copy(update={"node": target.node.model_copy(update={"state_dir": tmp_path / "dst2"})})
    with pytest.raises(RestoreTargetError, match="already has streams"):
        await restore_backup(taken.path, again)
