"""Shared fixtures: a real nats-server per test, a connected Bus with Hydra's topology."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.config import BusConfig
from tests.helpers import NatsProc, free_port


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    """A real embedded nats-server with JetStream, the same code path the daemon uses."""
    async with EmbeddedNats(tmp_path / "nats") as srv:
        yield srv


@pytest.fixture
async def bus(nats_server: EmbeddedNats) -> AsyncIterator[Bus]:
    """A Bus connected to ``nats_server`` with every Hydra stream and bucket created."""
    assert nats_server.url
    async with Bus([nats_server.url], BusConfig(), name="test") as b:
        await b.ensure_topology(3.0)
        yield b


@pytest.fixture
def nats_proc(tmp_path: Path) -> Iterator[NatsProc]:
    """A standalone nats-server subprocess (for daemons started with bus.url)."""
    srv = NatsProc("solo", free_port(), tmp_path / "nats-solo").start()
    yield srv
    srv.stop()
