"""The bus probe: a frozen server makes the bus unusable, and a NATS client whose read loop died
(nats-py's InvalidStateError on a late PONG) is rebuilt with its subscriptions. Real nats-server."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.msg import Msg

from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig
from tests.helpers import NatsProc, free_port, freeze

pytestmark = pytest.mark.e2e


async def _until(pred: object, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if pred():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def test_a_client_whose_read_loop_died_is_rebuilt_with_its_subscriptions(tmp_path: Path) -> None:
    srv = NatsProc("p", free_port(), tmp_path / "nats").start()
    assert srv.proc is not None
    cfg = BusConfig(probe_interval=0.3, probe_timeout=1.0, reconnect_wait=0.2)
    got: list[bytes] = []
    try:
        async with Bus([srv.url], cfg, name="probed") as bus:
            await bus.ensure_topology(3.0)

            async def on_msg(msg: Msg) -> None:
                got.append(msg.data)

            await bus.nc.subscribe("t.live", cb=on_msg)
            bus.start_probe()
            await bus.nc.flush(timeout=2)  # settles the PONG nats-py's connect leaves outstanding
            freeze(srv.proc.pid)  # every server thread stopped: nothing answers the flush below
            try:
                # a flush that times out while the server is frozen leaves a cancelled PONG future in
                # nats-py; the PONG that arrives after the resume then kills nats-py's read loop
                with pytest.raises(nats.errors.TimeoutError):
                    await bus.nc.flush(timeout=1)
                await _until(lambda: not bus.status.usable, 10, "the probe marks the bus unusable")
            finally:
                os.kill(srv.proc.pid, signal.SIGCONT)
            await _until(lambda: bus.status.rebuilds >= 1, 20, "the dead client is rebuilt")
            await _until(lambda: bus.status.usable, 20, "usable again")
            # requests and the old subscription work on the rebuilt connection
            info = await bus.js.account_info()
            assert info.streams >= 2
            other = await nats.connect(srv.url)
            try:
                for _ in range(50):
                    await other.publish("t.live", b"hello")
                    await other.flush()
                    if got:
                        break
                    await asyncio.sleep(0.1)
            finally:
                await other.close()
            assert got and got[0] == b"hello"
    finally:
        srv.stop()
