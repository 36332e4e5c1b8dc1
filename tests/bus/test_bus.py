"""The embedded server and the bus connection."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.config import BusConfig
from hydra_os.errors import BusError, StartupError


async def test_topology_is_idempotent_and_complete(bus: Bus) -> None:
    await bus.ensure_topology(3.0)  # second time: no error, nothing duplicated
    streams = {s.config.name for s in await bus.js.streams_info()}
    assert {names.EVENTS_STREAM, names.TASKS_STREAM} <= streams
    for b in (names.NODES_BUCKET, names.MODELS_BUCKET, names.SERVICES_BUCKET, names.TASKS_BUCKET,
              names.APPROVALS_BUCKET, names.LEADER_BUCKET):
        assert f"KV_{b}" in streams
    # a changed TTL is applied to the existing bucket on the next start
    await bus.ensure_topology(10.0)
    info = await bus.js.stream_info(f"KV_{names.NODES_BUCKET}")
    assert info.config.max_age == 20.0


async def test_embedded_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        srv = EmbeddedNats(tmp_path, port=port)
        with pytest.raises(StartupError, match=r"port \d+ in use"):
            await srv.start()
        assert not srv.running


async def test_embedded_stop_is_idempotent(tmp_path: Path) -> None:
    srv = EmbeddedNats(tmp_path)
    url = await srv.start()
    assert url.startswith("nats://127.0.0.1:") and srv.running
    await srv.stop()
    await srv.stop()
    assert not srv.running


async def test_unreachable_server_fails_fast() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BusError, match=f"cannot reach NATS at nats://127.0.0.1:{port}"):
        await Bus([f"nats://127.0.0.1:{port}"], BusConfig(connect_timeout=0.3)).connect()


async def test_reconnect_is_reported(tmp_path: Path) -> None:
    srv = EmbeddedNats(tmp_path / "a")
    url = await srv.start()
    port = int(url.rsplit(":", 1)[1])
    bus = Bus([url], BusConfig(reconnect_wait=0.1))
    await bus.connect()
    try:
        await srv.stop()
        import asyncio

        for _ in range(100):
            if not bus.status.connected:
                break
            await asyncio.sleep(0.02)
        assert not bus.status.connected and bus.status.disconnects == 1
        srv2 = EmbeddedNats(tmp_path / "a", port=port)
        await srv2.start()
        for _ in range(200):
            if bus.status.connected:
                break
            await asyncio.sleep(0.05)
        assert bus.status.connected and bus.status.reconnects == 1
        await srv2.stop()
    finally:
        await bus.close()
