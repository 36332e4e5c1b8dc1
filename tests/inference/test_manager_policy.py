"""The model manager's own side effects go through a real PolicyGate (rules, guards, receipts, approvals).

Engines are the stand-in executables (real child processes); a crash is a real ``kill -9``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hydra_os.bus.client import Bus
from hydra_os.events import EventLog
from hydra_os.inference.endpoint import endpoint_key
from hydra_os.inference.engines.errors import PlacementError
from hydra_os.inference.manager import ModelManager
from hydra_os.inference.registry import EndpointRegistry
from hydra_os.node import rpc
from hydra_os.node.rpc import NodeRpc
from tests.inference.policy_gate import make_gate
from tests.inference.test_manager import Gpus, _config, _until
from tests.standins.engines.fixtures import gpu

NODE = "gpu1"


@pytest.fixture
async def registry(bus: Bus) -> AsyncIterator[EndpointRegistry]:
    async with EndpointRegistry(bus, NODE, refresh_interval=0.2, gone_after=0.8) as r:
        yield r


class Events:
    """Every event this node publishes on HYDRA_EVENTS, as seen by a plain NATS subscriber."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def attach(self, bus: Bus) -> None:
        async def cb(msg: Any) -> None:
            self.seen.append(json.loads(msg.data))

        await bus.nc.subscribe(f"hydra.events.{NODE}", cb=cb)

    def types(self) -> list[str]:
        return [e["type"] for e in self.seen]

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e["data"] for e in self.seen if e["type"] == type_]


@pytest.fixture
async def seen(bus: Bus) -> Events:
    ev = Events()
    await ev.attach(bus)
    return ev


@pytest.fixture
async def events(bus: Bus) -> EventLog:
    log = EventLog(bus, NODE)
    await log.start()
    return log


def _eviction_config(tmp_path: Path) -> Any:
    return _config(
        tmp_path,
        {"id": "a", "engine": "llama-server", "vram_mb": 10000, "env": {"STANDIN_LOAD_S": "0"}},
        {"id": "c", "engine": "vllm", "vram_mb": 20000, "env": {"STANDIN_LOAD_S": "0"}},
    )


async def test_eviction_is_a_model_unload_action_the_policy_decides(
    tmp_path: Path, bus: Bus, registry: EndpointRegistry, events: EventLog, seen: Events
) -> None:
    # the owner's policy says: ask me before unloading anything -> the start is refused, nothing stops
    strict = await make_gate(bus, NODE, events,
                             '[[rule]]\nid = "ask-unload"\nlevel = "ASK_FIRST"\nkinds = ["model.unload"]\n')
    m = ModelManager(_eviction_config(tmp_path), node_id=NODE, state_dir=tmp_path,
                     gpu_reader=Gpus(gpu(0, 24576, 24576)), registry=registry, events=events, gate=strict)
    await m.start()
    try:
        await m.start_model("a", wait=True)
        with pytest.raises(PlacementError) as e:
            await m.start_model("c", evict=True, wait=True)
        assert "cannot make room for 'c': model.unload model:a parked for approval" in str(e.value)
        assert "ask-unload" in str(e.value)
        assert m.describe("a")["state"] == "ready" and m.describe("c")["state"] == "stopped"
        await _until(lambda: "approval.requested" in seen.types())
    finally:
        await m.stop()

    # the built-in policy (model.unload: INFORM_AFTER) lets it run: a is stopped by the gate's executor
    seen.seen.clear()
    m = ModelManager(_eviction_config(tmp_path), node_id=NODE, state_dir=tmp_path,
                     gpu_reader=Gpus(gpu(0, 24576, 24576)), registry=registry, events=events,
                     gate=await make_gate(bus, NODE, events))
    await m.start()
    try:
        await m.start_model("a", wait=True)
        st = await m.start_model("c", evict=True, wait=True)
        assert st["state"] == "ready" and m.describe("a")["state"] == "stopped"
        await _until(lambda: bool(seen.of("model.evicted")))
        decided = [d for d in seen.of("policy.decided") if d["action"]["kind"] == "model.unload"]
        assert decided and decided[0]["action"]["target"] == "model:a"
        assert decided[0]["decision"]["level"] == "INFORM_AFTER"
        assert seen.of("model.evicted") == [{"model": "a", "for": "c"}]
        kinds = seen.types()
        assert kinds.index("policy.decided") < kinds.index("model.evicted")  # decided before it ran
    finally:
        await m.stop()


async def test_a_killed_engine_comes_back_through_the_gate_until_the_attempts_run_out(
    tmp_path: Path, bus: Bus, registry: EndpointRegistry, events: EventLog, seen: Events
) -> None:
    gate = await make_gate(bus, NODE, events, max_attempts=2, backoff_base=0.3, backoff_factor=1.0)
    cfg = _config(tmp_path, {"id": "crashy", "engine": "llama-server", "gpus": 0, "env": {"STANDIN_LOAD_S": "0"}})
    m = ModelManager(cfg, node_id=NODE, state_dir=tmp_path, gpu_reader=Gpus(), registry=registry,
                     events=events, gate=gate)
    await m.start()
    key = endpoint_key(NODE, "crashy")
    try:
        await m.start_model("crashy", wait=True)
        pids = [m.describe("crashy")["pid"]]
        for attempt in (1, 2):  # two kill -9s: each brought back by an engine.restart the gate ran
            os.kill(pids[-1], signal.SIGKILL)
            await _until(lambda: m.describe("crashy")["state"] == "ready" and m.describe("crashy")["pid"] != pids[-1],
                         15)
            pids.append(m.describe("crashy")["pid"])
            await _until(lambda n=attempt: len(seen.of("model.restarted")) == n)  # type: ignore[misc]
            await _until(lambda: (i := registry.get(key)) is not None and i.base_url == m.describe("crashy")["url"])
            info = registry.get(key)
            assert info is not None
            async with httpx.AsyncClient(trust_env=False) as c:  # the re-announced URL serves again
                r = await c.post(info.base_url + "/completions",
                                 json={"model": "crashy", "prompt": "x", "max_tokens": 2})
            assert r.status_code == 200
        restarts = [d for d in seen.of("policy.decided") if d["action"]["kind"] == "engine.restart"]
        assert len(restarts) >= 2 and {d["action"]["target"] for d in restarts} == {"model:crashy"}
        assert len(seen.of("model.restarted")) == 2  # (a kill inside the backoff is first deferred, then run)
        assert all(d["decision"]["level"] == "AUTONOMOUS" for d in restarts)

        # the third crash within the window: the attempts guard escalates to ASK_FIRST, it stays down
        os.kill(pids[-1], signal.SIGKILL)
        await _until(lambda: bool(seen.of("model.restart_withheld")), 15)
        withheld = seen.of("model.restart_withheld")[0]
        assert withheld["status"] == "pending" and withheld["approval"]
        assert "attempts" in withheld["reason"]
        assert m.describe("crashy")["state"] == "failed"
        await _until(lambda: registry.get(key) is None)
    finally:
        await m.stop()


async def test_owner_commands_run_directly_are_recorded_and_cancel_a_pending_restart(
    tmp_path: Path, bus: Bus, registry: EndpointRegistry, events: EventLog, seen: Events
) -> None:
    # backoff long enough that the restart is still waiting when the owner steps in
    gate = await make_gate(bus, NODE, events, backoff_base=30.0)
    cfg = _config(tmp_path, {"id": "m", "engine": "llama-server", "gpus": 0, "env": {"STANDIN_LOAD_S": "0"}})
    m = ModelManager(cfg, node_id=NODE, state_dir=tmp_path, gpu_reader=Gpus(), registry=registry,
                     events=events, gate=gate)
    node_rpc = NodeRpc(bus, NODE)
    node_rpc.handle_all(m.rpc_handlers())
    await node_rpc.start()
    await m.start()
    try:
        st = await rpc.call(bus, NODE, "models.start", {"id": "m", "wait": True}, timeout=20)
        first = st["pid"]
        os.kill(first, signal.SIGKILL)
        await _until(lambda: bool(seen.of("model.restarted")), 15)  # attempt 1 runs at once
        second = m.describe("m")["pid"]
        os.kill(second, signal.SIGKILL)
        await _until(lambda: m.describe("m")["state"] == "failed")
        await asyncio.sleep(0.5)  # attempt 2 is deferred by the 30 s backoff
        assert m.actions is not None and m.actions.restarting("m")
        st = await rpc.call(bus, NODE, "models.stop", {"id": "m"}, timeout=20)
        assert st["state"] == "stopped" and not m.actions.restarting("m")
        await _until(lambda: bool(seen.of("model.stop_requested")))
        assert seen.of("model.start_requested") == [{"model": "m", "by": "owner", "evict": False}]
        assert seen.of("model.stop_requested") == [{"model": "m", "by": "owner", "force": False}]
        owner_kinds = [d["action"]["kind"] for d in seen.of("policy.decided")]
        assert set(owner_kinds) == {"engine.restart"}  # only the manager's own restarts were submitted
        await asyncio.sleep(0.5)
        assert m.describe("m")["state"] == "stopped"
    finally:
        await m.stop()
        await node_rpc.stop()
