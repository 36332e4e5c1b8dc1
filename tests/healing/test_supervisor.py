"""The process supervisor with real children: kill -9 one and it comes back through the healer."""
from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.config import BusConfig
from hydra_os.healing.errors import SupervisorError
from hydra_os.healing.supervisor import ChildProcess, EmbeddedBusChild, ProcessSupervisor
from hydra_os.sections.healing import ChildSpec, HealingConfig
from tests.helpers import free_port


async def wait_until(pred: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_killed_child_comes_back_through_the_gate(tmp_path: Path, gate: Any, make_healer: Any,
                                                      child_script: Any) -> None:
    port = free_port()
    spec = ChildSpec(name="engine-fast", kind="engine", argv=child_script(port),
                     health_url=f"http://127.0.0.1:{port}/health", start_timeout_s=10)
    sup = ProcessSupervisor(watch_interval=0.05, probe_interval=0.5)
    sup.add(ChildProcess(spec, tmp_path / "logs"))
    healer = make_healer(gate, HealingConfig(interval_s=60), supervisor=sup)
    await sup.start()
    await healer.start()
    try:
        first = sup.state("engine-fast").pid
        assert first and sup.state("engine-fast").healthy
        os.kill(first, signal.SIGKILL)
        await wait_until(lambda: sup.state("engine-fast").restarts == 1 and sup.state("engine-fast").healthy)
        assert sup.state("engine-fast").pid != first
        [inc] = healer.incidents.all()
        assert inc.root == "process:engine-fast"
        assert inc.actions[0].kind == "engine.restart" and inc.actions[0].status == "succeeded"
        await wait_until(lambda: inc.status == "resolved")
    finally:
        await healer.stop()
        await sup.stop()
    assert not sup.state("engine-fast").running


async def test_embedded_bus_killed_comes_back_on_the_same_port(tmp_path: Path) -> None:
    async with EmbeddedNats(tmp_path / "nats") as srv:
        assert srv.url
        sup = ProcessSupervisor(watch_interval=0.05)
        child = EmbeddedBusChild(srv)
        sup.add(child, owned=False)
        downs: list[str] = []
        sup.on_change(downs.append)
        async with Bus([srv.url], BusConfig(reconnect_wait=0.1), name="t") as bus:
            await sup.start()
            url = srv.url
            os.kill(srv.pid or 0, signal.SIGKILL)
            await wait_until(lambda: downs == ["bus"])
            out = await sup.restart("bus")
            assert out["restarted"] and srv.url == url
            await wait_until(lambda: bus.status.connected and bus.status.reconnects >= 1)
            await bus.nc.flush(timeout=2)
            await sup.stop()
        assert srv.running  # not owned: the daemon stops it, not the supervisor


async def test_child_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    spec = ChildSpec(name="bad", argv=["/nonexistent/engine"])
    with pytest.raises(SupervisorError, match="cannot start bad"):
        await ChildProcess(spec, tmp_path).start()
    sup = ProcessSupervisor()
    with pytest.raises(SupervisorError, match="no supervised child named 'x'"):
        sup.state("x")


async def test_restart_is_refused_before_start_and_after_stop_so_only_the_supervisor_spawns(
        tmp_path: Path, child_script: Any) -> None:
    port = free_port()
    spec = ChildSpec(name="engine-x", kind="engine", argv=child_script(port),
                     health_url=f"http://127.0.0.1:{port}/health", start_timeout_s=10)
    sup = ProcessSupervisor(watch_interval=0.05)
    sup.add(ChildProcess(spec, tmp_path / "logs"))
    with pytest.raises(SupervisorError, match="not running its children"):
        await sup.restart("engine-x")
    assert sup.state("engine-x").pid is None  # nothing spawned
    await sup.start()
    try:
        first = sup.state("engine-x").pid
        assert (await sup.restart("engine-x"))["restarted"]
        assert sup.state("engine-x").pid not in (None, first)
    finally:
        await sup.stop()
    with pytest.raises(SupervisorError, match="not running its children"):
        await sup.restart("engine-x")
    assert not sup.state("engine-x").running


async def test_a_restart_waiting_while_the_node_stops_does_not_start_the_child_again(
        tmp_path: Path, child_script: Any) -> None:
    """A restart that passed the running check and then waited for the child (another restart held it)
    used to start the child after stop() had stopped it: a process left behind by a stopped node."""
    port = free_port()
    spec = ChildSpec(name="engine-y", kind="engine", argv=child_script(port),
                     health_url=f"http://127.0.0.1:{port}/health", start_timeout_s=10)
    sup = ProcessSupervisor(watch_interval=0.05)
    sup.add(ChildProcess(spec, tmp_path / "logs"))
    await sup.start()
    first = asyncio.create_task(sup.restart("engine-y"))  # holds the child while it stops and starts it
    await asyncio.sleep(0)
    second = asyncio.create_task(sup.restart("engine-y"))  # passes the check, then waits for the child
    await asyncio.sleep(0)
    await sup.stop()
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert isinstance(results[1], SupervisorError), results
    assert not sup.state("engine-y").running, "a child was started after the supervisor stopped"
