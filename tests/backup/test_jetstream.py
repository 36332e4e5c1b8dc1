"""JetStream's snapshot/restore protocol against real nats-servers: a multi-chunk snapshot (the
server's flow control, its end-of-snapshot status) restores to the same messages and sequences."""

from __future__ import annotations

import os
from pathlib import Path

from hydra_os.backup.jetstream import restore_stream, snapshot_stream
from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.bus.kvscan import kv_scan
from hydra_os.config import BusConfig


async def test_a_multi_chunk_snapshot_restores_every_message(bus: Bus, tmp_path: Path) -> None:
    kv = await bus.kv(names.TASKS_BUCKET)
    values = {f"task.{i}": os.urandom(600).hex().encode() for i in range(3000)}  # incompressible: many chunks
    for k, v in values.items():
        await kv.put(k, v)
    stream = f"KV_{names.TASKS_BUCKET}"
    snap = await snapshot_stream(bus.nc, stream, tmp_path / "tasks.snap", timeout=120)
    assert snap.messages == 3000 and (tmp_path / "tasks.snap").stat().st_size > 3 * 128 * 1024
    async with EmbeddedNats(tmp_path / "other") as srv, Bus([srv.url or ""], BusConfig(), name="r") as other:
        state = await restore_stream(other.nc, snap, tmp_path / "tasks.snap", timeout=120)
        assert state["last_seq"] == snap.last_seq
        restored = await kv_scan(await other.js.key_value(names.TASKS_BUCKET))
        assert {i.key: i.value for i in restored} == values
