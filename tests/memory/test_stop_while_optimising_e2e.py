"""A memory node stopped (SIGTERM) while its store optimises stops within its bound and loses nothing.

A daemon opening an archival store of 20 000 unoptimised passages optimises it at the background
optimiser's first turn (``memory.service.optimize_interval_s``, 2 s here). qdrant-edge-py's
``optimize()`` keeps the GIL for its whole run, so in the daemon's own process it froze the event
loop, the watchdog and the SIGTERM handling for as long as it ran (SIGTERM to exit: 42 s on the
2-core machine, past systemd's 30 s); it now runs in a child process that the store ends when it
closes (2.7 s). The bound asserted is loose: 15 s (node.stop_timeout is 20 s).
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from memory.config import MemoryConfig
from memory.protocols import Passage
from memory.wiring import open_local
from tests.helpers import DaemonProc, daemon_env, wait_for

pytestmark = pytest.mark.e2e

N = 20_000
CHILD = "memory.archival.optimize_child"


def _memory_cfg() -> MemoryConfig:
    cfg = MemoryConfig()
    cfg.embed.backend = "hashing"
    return cfg


async def _fill(state_dir: Path) -> None:
    """N passages with their vectors into the node's own store, offline and not optimised."""
    mem = await open_local(_memory_cfg(), state_dir)
    try:
        rnd = np.random.default_rng(5)
        base = datetime(2025, 1, 1, tzinfo=UTC)
        for i in range(0, N, 2000):
            vecs = rnd.random((2000, mem.embedder.dim)).tolist()
            await mem.stack.archival.import_passages([
                Passage(id=f"p{i + j}", text=f"passage number {i + j}", source="test",
                        created_at=base + timedelta(minutes=i + j), embedding_model=mem.embedder.model, vector=v)
                for j, v in enumerate(vecs)])
    finally:
        await mem.close()


async def _count(state_dir: Path) -> int:
    mem = await open_local(_memory_cfg(), state_dir, create_defaults=False)
    try:
        return await mem.stack.archival.count()
    finally:
        await mem.close()


def _optimising_child(parent: int) -> bool:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and CHILD.encode() in cmdline:
            return True
    return False


def test_sigterm_during_an_optimisation_stops_in_bound_and_keeps_every_passage(tmp_path: Path) -> None:
    state = tmp_path / "mem"
    asyncio.run(_fill(state))
    cfg = tmp_path / "config.toml"
    cfg.write_text('[memory.embed]\nbackend = "hashing"\n\n[memory.service]\noptimize_interval_s = 2\n')
    d = DaemonProc("mem", state, daemon_env(HYDRA_CONFIG=str(cfg), HYDRA_NODE__ROLES="memory"))
    d.start(timeout=60)
    try:
        assert d.proc is not None
        pid = d.proc.pid
        wait_for(lambda: _optimising_child(pid), 60, interval=0.1,
                 what="the store's optimisation running in a process of its own")
        started = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        rc = d.proc.wait(60)
        took = time.monotonic() - started
    finally:
        d.stop()
    assert rc == 0, d.logs()[-3000:]
    assert took < 15, f"the stop took {took:.1f}s"
    assert not _optimising_child(pid)
    assert asyncio.run(_count(state)) == N
