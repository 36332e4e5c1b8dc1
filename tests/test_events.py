"""The event log: hash chain per node, picked up after restart, dedup across reporters."""

from __future__ import annotations

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.events import Event, EventLog


async def _all_events(bus: Bus, node: str) -> list[Event]:
    sub = await bus.js.subscribe(names.events_subject(node), ordered_consumer=True)
    out = []
    info = await bus.js.stream_info(names.EVENTS_STREAM)
    for _ in range(info.state.messages):
        msg = await sub.next_msg(timeout=2)
        out.append(Event.model_validate_json(msg.data))
    await sub.unsubscribe()
    return out


async def test_chain_links_each_event_to_the_previous(bus: Bus) -> None:
    log = EventLog(bus, "n1")
    await log.start()
    a = await log.publish("t.a", {"x": 1})
    b = await log.publish("t.b", {"x": 2})
    assert a and b and a.prev is None and b.prev == a.hash
    assert a.hash == a.compute_hash() and b.hash == b.compute_hash()

    # a restarted node continues the same chain
    log2 = EventLog(bus, "n1")
    await log2.start()
    c = await log2.publish("t.c")
    assert c and c.prev == b.hash
    stored = await _all_events(bus, "n1")
    assert [e.type for e in stored] == ["t.a", "t.b", "t.c"]

    tampered = stored[1].model_copy(update={"data": {"x": 3}})
    assert tampered.compute_hash() != tampered.hash


async def test_dedup_id_keeps_one_report_and_does_not_advance_chain(bus: Bus) -> None:
    a, b = EventLog(bus, "a"), EventLog(bus, "b")
    await a.start()
    await b.start()
    first = await a.publish("node.left", {"node": "c"}, dedup_id="left:c:1")
    second = await b.publish("node.left", {"node": "c"}, dedup_id="left:c:1")
    assert first is not None and second is None
    nxt = await b.publish("other")
    assert nxt is not None and nxt.prev is None  # b's chain did not take the dropped duplicate
