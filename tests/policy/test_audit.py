"""Audit receipts on a real HYDRA_EVENTS stream: verify detects removed and edited events."""

from __future__ import annotations

import pytest

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig
from hydra_os.events import Event, EventLog
from hydra_os.policy.audit import ChainReport, read_events, stream_first_seq, verify_chains
from hydra_os.policy.model import Action
from hydra_os.policy.receipts import Receipts
from tests.helpers import NatsProc
from tests.policy.nodes import Recorder, start_node, wait_until


async def _trail(bus: Bus) -> None:
    """Two nodes' receipts, interleaved."""
    n1 = await start_node(bus, "n1")
    n2 = await start_node(bus, "n2")
    try:
        for i in range(3):
            await n1.gate.submit(Action(kind="service.restart", target=f"unit:a{i}"), Recorder())
            await n2.gate.submit(Action(kind="backup.run", target=f"restic:{i}"), Recorder())
    finally:
        await n1.stop()
        await n2.stop()


async def _verify(bus: Bus, heads: dict[str, str | None] | None = None) -> dict[str, ChainReport]:
    return verify_chains(await read_events(bus), stream_first_seq=await stream_first_seq(bus), heads=heads)


async def _seq_of(bus: Bus, node: str, index: int) -> int:
    return [e.seq for e in await read_events(bus, node=node)][index]


async def test_intact_trail_verifies(bus: Bus) -> None:
    await _trail(bus)
    reports = await _verify(bus)
    assert set(reports) == {"n1", "n2"}
    assert all(r.ok for r in reports.values()), {n: r.problems for n, r in reports.items()}
    assert reports["n1"].events == 9 and reports["n2"].events == 9


async def test_removed_event_is_detected(bus: Bus) -> None:
    await _trail(bus)
    seq = await _seq_of(bus, "n1", 4)
    assert await bus.js.delete_msg(names.EVENTS_STREAM, seq)
    reports = await _verify(bus)
    assert reports["n2"].ok
    [p] = reports["n1"].problems
    assert p.kind == "broken" and "removed" in p.detail


async def test_removed_first_event_is_detected(bus: Bus) -> None:
    await _trail(bus)
    await bus.js.delete_msg(names.EVENTS_STREAM, await _seq_of(bus, "n2", 0))
    reports = await _verify(bus)
    assert [p.kind for p in reports["n2"].problems] == ["start-missing"]


async def test_edited_and_republished_event_is_detected(bus: Bus) -> None:
    await _trail(bus)
    events = await read_events(bus, node="n1")
    victim = events[2]
    assert victim.event is not None
    # edit the recorded outcome and republish it in place of the original
    forged = victim.event.model_copy(update={"data": {**victim.event.data, "status": "succeeded",
                                                       "error": None, "target": "unit:elsewhere"}})
    await bus.js.delete_msg(names.EVENTS_STREAM, victim.seq)
    await bus.js.publish(victim.subject, forged.model_dump_json().encode())
    kinds = {p.kind for p in (await _verify(bus))["n1"].problems}
    assert kinds == {"edited", "broken"}


async def test_edited_with_recomputed_hash_is_detected(bus: Bus) -> None:
    await _trail(bus)
    victim = (await read_events(bus, node="n1"))[1]
    assert victim.event is not None
    forged = victim.event.model_copy(update={"data": {"status": "refused"}})
    forged.hash = forged.compute_hash()
    await bus.js.delete_msg(names.EVENTS_STREAM, victim.seq)
    await bus.js.publish(victim.subject, forged.model_dump_json().encode())
    problems = (await _verify(bus))["n1"].problems
    assert {p.kind for p in problems} == {"broken"} and len(problems) == 2


async def test_removed_newest_event_is_caught_by_the_live_head(bus: Bus) -> None:
    log = EventLog(bus, "n3")
    await log.start()
    receipts = Receipts(log)
    for i in range(3):
        await receipts.policy("policy.reloaded", n=i)
    head = log.head
    await bus.js.delete_msg(names.EVENTS_STREAM, await _seq_of(bus, "n3", -1))
    assert (await _verify(bus))["n3"].ok  # the chain alone cannot see a missing tail ...
    report = (await _verify(bus, heads={"n3": head}))["n3"]
    assert [p.kind for p in report.problems] == ["head-missing"]  # ... the node's live head can


async def test_unreadable_message_and_since_filter(bus: Bus) -> None:
    await _trail(bus)
    await bus.js.publish(names.events_subject("n1"), b"not json")
    reports = await _verify(bus)
    assert [p.kind for p in reports["n1"].problems] == ["unreadable"]
    all_events = await read_events(bus)
    newest = max(e.event.ts for e in all_events if e.event)
    assert await read_events(bus, since=newest + 3600) == []
    assert await read_events(bus, node="nobody") == []
    assert len(await read_events(bus, since=0)) == len(all_events)


@pytest.mark.parametrize("field", ["type", "ts", "node"])
def test_every_field_is_covered_by_the_hash(field: str) -> None:
    ev = Event(node="n1", type="policy.decided", data={"a": 1}, prev="x")
    ev.hash = ev.compute_hash()
    changed = ev.model_copy(update={field: {"type": "other", "ts": 1.0, "node": "n2"}[field]})
    assert changed.compute_hash() != ev.hash


async def test_receipts_queue_while_the_bus_is_down_and_stay_chained(nats_proc: NatsProc) -> None:
    """The healer may restart the bus through the gate: the action runs, its receipts follow later."""
    async with Bus([nats_proc.url], BusConfig(reconnect_wait=0.1), name="q") as bus:
        await bus.ensure_topology(3.0)
        node = await start_node(bus, "n1")
        try:
            rec = Recorder()
            await node.gate.submit(Action(kind="backup.run", target="restic:a"), rec)
            nats_proc.kill9()
            await wait_until(lambda: not bus.status.connected, what="disconnect seen")
            out = await node.gate.submit(Action(kind="bus.restart", target="process:nats"), rec)
            assert out.executed and len(rec.ran) == 2
            events = node.gate.receipts.events
            assert events.queued == 3 and not node.gate.receipts.queued  # in the event log's durable outbox
            nats_proc.start()
            await wait_until(lambda: bus.status.connected, 15, what="reconnected")
            assert await node.gate.receipts.flush()
            await wait_until(lambda: events.queued == 0, 15, what="outbox drained")
            reports = await _verify(bus)
            assert reports["n1"].ok and reports["n1"].events == 6
            types = [e.event.type for e in await read_events(bus, node="n1") if e.event]
            assert types[3:] == ["policy.decided", "policy.executing", "policy.outcome"]
        finally:
            await node.stop()
