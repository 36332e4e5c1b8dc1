"""One damaged memory file takes down only its store: the rest serves, the file is named and untouched.

Real stores in a state dir, one file damaged per case, then the real :class:`MemoryComponent` on a
real nats-server, called through :class:`MemoryClient` as every other node does.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from memory.errors import MemoryStoreDownError
from memory.protocols import Entity, LearningIn, MemoryStack, PassageIn
from memory.service import MemoryClient
from memory.store_down import StoreName
from memory.wiring import MemoryComponent, open_local
from tests.helpers import REPO, daemon_env
from tests.memory.conftest import hashing_config


async def _fill(state: Path) -> None:
    mem = await open_local(hashing_config(), state)
    try:
        await mem.stack.core.append("owner", "Name: Sam")
        await mem.stack.archival.add([PassageIn(text=f"passage {i} about the garden") for i in range(5)])
        await mem.stack.graph.upsert_entity(Entity(name="Sam", type="person"))
        for i in range(3):
            await mem.stack.learnings.add(LearningIn(context=f"c{i}", learning=f"l{i}", apply=f"a{i}"))
    finally:
        await mem.close()


def _corrupt_core(m: Path) -> Path:
    f = m / "core" / "owner.json"
    f.write_bytes(b'{"version": 1, "block": {"label": "own')
    return f


def _corrupt_learnings(m: Path) -> Path:
    f = m / "learnings.jsonl"
    lines = f.read_bytes().splitlines(keepends=True)
    lines[1] = b'{"id": "L-0002", "oops"}\n'
    f.write_bytes(b"".join(lines))
    return f


def _corrupt_graph(m: Path) -> Path:
    f = m / "graph.lbug"
    data = bytearray(f.read_bytes())
    data[:4096] = os.urandom(4096)
    f.write_bytes(bytes(data))
    return f


def _corrupt_archival(m: Path) -> Path:
    live = (m / "archival" / "CURRENT").read_text().strip()
    f = m / "archival" / live / "meta.json"
    f.write_text("{trunc")
    return f


Call = Callable[[MemoryStack], Awaitable[Any]]
CASES: dict[str, tuple[Callable[[Path], Path], Call]] = {
    "core": (_corrupt_core, lambda s: s.core.get_block("owner")),
    "learnings": (_corrupt_learnings, lambda s: s.learnings.list_learnings()),
    "graph": (_corrupt_graph, lambda s: s.graph.counts()),
    "archival": (_corrupt_archival, lambda s: s.archival.search("garden")),
}
HEALTHY: dict[str, Call] = {
    "core": lambda s: s.core.list_blocks(),
    "learnings": lambda s: s.learnings.search("l1"),
    "graph": lambda s: s.graph.resolve("sam"),
    "archival": lambda s: s.archival.count(),
}


@pytest.mark.parametrize("store", sorted(CASES))
async def test_a_damaged_file_degrades_only_its_store(
    tmp_path: Path, nats_server: EmbeddedNats, bus: Bus, store: str
) -> None:
    state = tmp_path / "state"
    await _fill(state)
    damage, call = CASES[store]
    damaged = damage(state / "memory")
    before = damaged.read_bytes()

    comp = MemoryComponent(hashing_config(), state, bus, "n1")
    await comp.start()
    try:
        await comp.wait_serving(60)
        st = comp.status()
        assert st["state"] == "degraded"
        assert st["stores"][store]["state"] == "down" and str(damaged) in st["stores"][store]["error"]
        assert all(v["state"] == "ok" for k, v in st["stores"].items() if k != store)

        client = await MemoryClient(bus, timeout=30).open()  # info answers although a store is down
        info = await client.call("info")
        assert info["stores"][store]["state"] == "down"
        stack = client.stack()
        with pytest.raises(MemoryStoreDownError) as err:
            await call(stack)
        msg = str(err.value)
        assert str(damaged) in msg and "restore" in msg and "\n" not in msg
        for other, ok in HEALTHY.items():
            if other != store:
                await ok(stack)  # the rest keeps serving
        if store == "graph":  # and `hydra memory status` shows it, through the real CLI
            r = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "hydra_os", "memory", "status"],
                env=daemon_env(HYDRA_BUS__URL=str(nats_server.url)), cwd=REPO, capture_output=True, text=True,
                timeout=120, check=False,
            )
            assert r.returncode == 0, r.stderr
            assert "graph: down" in r.stdout and "core: ok" in r.stdout and "graph.lbug" in r.stdout
            assert "archival index optimisation: " in r.stdout and ", last completed at " in r.stdout
    finally:
        await comp.stop()
    assert damaged.read_bytes() == before  # never touched


async def test_a_restored_file_brings_its_store_back(tmp_path: Path, bus: Bus) -> None:
    state = tmp_path / "state"
    await _fill(state)
    f = state / "memory" / "learnings.jsonl"
    good = f.read_bytes()
    _corrupt_learnings(state / "memory")
    comp = MemoryComponent(hashing_config(), state, bus, "n1")
    await comp.start()
    try:
        await comp.wait_serving(60)
        assert comp.status()["stores"]["learnings"]["state"] == "down"
        f.write_bytes(good)  # the owner restores it from a backup
        for _ in range(300):
            if comp.status()["state"] == "serving":
                break
            await asyncio.sleep(0.1)
        assert comp.status()["stores"]["learnings"] == {"state": "ok"}
        stack = (await MemoryClient(bus, timeout=30).open()).stack()
        assert [e.id for e in await stack.learnings.list_learnings()] == ["L-0001", "L-0002", "L-0003"]
    finally:
        await comp.stop()


async def test_a_damaged_learnings_log_with_a_torn_tail_is_left_byte_for_byte(tmp_path: Path) -> None:
    state = tmp_path / "state"
    await _fill(state)
    f = _corrupt_learnings(state / "memory")
    with f.open("ab") as fh:
        fh.write(b'{"id": "L-0004", "contex')  # and an unacknowledged append cut short
    before = f.read_bytes()
    mem = await open_local(hashing_config(), state)
    try:
        assert StoreName.LEARNINGS in mem.down and "line 2" in mem.down[StoreName.LEARNINGS]
    finally:
        await mem.close()
    assert f.read_bytes() == before
