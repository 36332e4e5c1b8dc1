"""Membership against a real nats-server: join, heartbeat, timeout, graceful leave, events."""

from __future__ import annotations

import asyncio
import time
import uuid

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.events import Event, EventLog
from hydra_os.node.info import NodeInfo, host_stats
from hydra_os.node.membership import Membership, read_nodes


def _factory(node_id: str):  # type: ignore[no-untyped-def]
    inc = uuid.uuid4().hex[:8]
    started = time.time()

    async def make() -> NodeInfo:
        now = time.time()
        return NodeInfo(id=node_id, incarnation=inc, roles=["worker"], version="t", api_url=None, pid=1,
                        started_at=started, heartbeat_at=now, uptime_s=now - started, **host_stats())  # type: ignore[arg-type]

    return make


async def _member(bus: Bus, node_id: str, hb: float = 0.1, gone: float = 0.4) -> Membership:
    log = EventLog(bus, node_id)
    await log.start()
    m = Membership(bus, log, node_id, _factory(node_id), heartbeat_interval=hb, gone_after=gone)
    await m.start()
    return m


async def _until(pred, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_members_see_each_other_and_a_silent_one_goes(bus: Bus) -> None:
    a = await _member(bus, "a")
    b = await _member(bus, "b")
    await _until(lambda: set(a.peers) == {"a", "b"} and set(b.peers) == {"a", "b"})
    assert [n.id for n in await read_nodes(bus, 0.4)] == ["a", "b"]

    # b goes silent without saying goodbye (as after kill -9): stop its loops only
    for t in b.background.tasks():
        t.cancel()
    await _until(lambda: set(a.peers) == {"a"})
    await a.stop()
    await b.stop()


async def test_graceful_leave_is_immediate_and_recorded(bus: Bus) -> None:
    a = await _member(bus, "a", hb=0.1, gone=5.0)
    b = await _member(bus, "b", hb=0.1, gone=5.0)
    await _until(lambda: "b" in a.peers)
    t0 = time.monotonic()
    await b.stop()
    await b.stop()  # idempotent
    await _until(lambda: "b" not in a.peers, timeout=2.0)
    assert time.monotonic() - t0 < 5.0  # long before gone_after: the delete was seen live
    await a.stop()

    sub = await bus.js.subscribe(names.EVENTS_SUBJECTS, ordered_consumer=True)
    types = []
    for _ in range((await bus.js.stream_info(names.EVENTS_STREAM)).state.messages):
        ev = Event.model_validate_json((await sub.next_msg(timeout=2)).data)
        types.append((ev.type, ev.data["node"]))
    assert ("node.joined", "a") in types and ("node.joined", "b") in types
    assert types.count(("node.left", "b")) == 1 and types.count(("node.left", "a")) == 1
