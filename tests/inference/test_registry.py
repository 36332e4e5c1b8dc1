"""EndpointRegistry against a real nats-server: announce, refresh, withdraw, expiry, node departure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig
from hydra_os.events import EventLog
from hydra_os.inference.endpoint import EndpointInfo, endpoint_key
from hydra_os.inference.registry import EndpointRegistry
from hydra_os.node.info import NodeInfo, host_stats
from hydra_os.node.membership import Membership


def _info(node: str, name: str, **kw: object) -> EndpointInfo:
    return EndpointInfo(
        id=endpoint_key(node, name),
        model=name,
        engine="openai",
        base_url="http://127.0.0.1:9/v1",
        node=node,
        tier="fast",
        **kw,  # type: ignore[arg-type]
    )


async def _until(pred: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_announce_is_seen_by_another_registry_and_refreshed(bus: Bus) -> None:
    async with EndpointRegistry(bus, "a", refresh_interval=0.2, gone_after=0.8) as a, \
            EndpointRegistry(bus, "b", refresh_interval=0.2, gone_after=0.8) as b:
        info = _info("a", "qwen/Qwen3-8B")
        await a.announce(info)
        assert a.get(info.id) is not None  # own view is immediate
        await _until(lambda: b.get(info.id) is not None)
        # stays alive well past gone_after because the announcer refreshes it
        await asyncio.sleep(1.5)
        assert b.get(info.id) is not None
        kv = await bus.kv(names.MODELS_BUCKET)
        stored = EndpointInfo.model_validate_json((await kv.get(info.id)).value or b"")
        assert time.time() - stored.updated_at < 1.0
        # an update travels too
        await a.update(info.id, health="degraded")
        await _until(lambda: (e := b.get(info.id)) is not None and e.health == "degraded")
        # withdraw deletes it from every view
        await a.withdraw(info.id)
        await _until(lambda: b.get(info.id) is None)
        assert a.get(info.id) is None


async def test_entries_of_a_dead_announcer_expire_and_stop_withdraws(bus: Bus, nats_server: object) -> None:
    events: list[tuple[str, bool]] = []
    async with EndpointRegistry(bus, "w", refresh_interval=0.2, gone_after=0.8) as watcher:
        watcher.add_listener(lambda k, i: events.append((k, i is not None)))
        url = nats_server.url  # type: ignore[attr-defined]
        async with Bus([url], BusConfig(), name="other") as other_bus:
            dying = EndpointRegistry(other_bus, "x", refresh_interval=0.2, gone_after=0.8)
            await dying.start()
            e1 = _info("x", "m1")
            await dying.announce(e1)
            await _until(lambda: watcher.get(e1.id) is not None)
            # simulate a crash: the refresh loop dies without withdrawing
            for t in dying.background.tasks():
                t.cancel()
            await _until(lambda: watcher.get(e1.id) is None, within=3.0)

            leaving = EndpointRegistry(other_bus, "y", refresh_interval=0.2, gone_after=0.8)
            watcher.gone_after = 3.0  # so only the delete, not the staleness sweep, can drop e2 quickly
            await leaving.start()
            e2 = _info("y", "m2")
            await leaving.announce(e2)
            await _until(lambda: watcher.get(e2.id) is not None)
            t0 = time.monotonic()
            await leaving.stop()
            await leaving.stop()  # idempotent
            await _until(lambda: watcher.get(e2.id) is None)
            assert time.monotonic() - t0 < 2.5  # by the delete, not the staleness sweep
        assert (e1.id, True) in events and (e1.id, False) in events


async def test_a_late_registry_loads_existing_entries(bus: Bus) -> None:
    async with EndpointRegistry(bus, "a", refresh_interval=0.2, gone_after=0.8) as a:
        info = _info("a", "m")
        await a.announce(info)
        async with EndpointRegistry(bus, "late", refresh_interval=0.2, gone_after=0.8) as late:
            assert late.get(info.id) is not None


async def test_endpoints_of_a_node_that_left_are_dropped(bus: Bus) -> None:
    events = EventLog(bus, "w")
    await events.start()

    async def make_info() -> NodeInfo:
        now = time.time()
        return NodeInfo(id="w", incarnation="i", roles=["gateway"], version="t", pid=1, api_url=None,
                        started_at=now, heartbeat_at=now, uptime_s=0.0, **host_stats())  # type: ignore[arg-type]

    membership = Membership(bus, events, "w", make_info, heartbeat_interval=0.2, gone_after=0.8)
    await membership.start()
    try:
        w = EndpointRegistry(bus, "w", membership=membership, refresh_interval=0.2, gone_after=0.8)
        async with w, EndpointRegistry(bus, "ghost", refresh_interval=0.2, gone_after=0.8) as ghost:
            # "ghost" keeps refreshing its endpoint but never joined the cluster: not a member, dropped
            info = _info("ghost", "m")
            await ghost.announce(info)
            await _until(lambda: w.get(info.id) is not None)
            await _until(lambda: w.get(info.id) is None, within=3.0)
            await asyncio.sleep(0.6)  # its refreshes keep coming, but a departed node stays out
            assert w.get(info.id) is None
    finally:
        await membership.stop()
