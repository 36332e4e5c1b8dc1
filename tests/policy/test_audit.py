"""Audit receipts on a real HYDRA_EVENTS stream: verify detects removed and edited events."""

from __future__ import annotations

from pathlib import Path

import pytest

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig
from hydra_os.events import Event, EventLog
from hydra_os.policy.audit import ChainReport, StreamFacts, read_events, stream_facts, verify_chains
from hydra_os.policy.chainhead import ChainHeadStore, recorded_heads
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
    return verify_chains(await read_events(bus), stream=await stream_facts(bus), heads=heads,
                         recorded=await recorded_heads(bus))


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



# ---- gaps the chain alone cannot show: the persisted head (issue 18 item 8) ---------------------------

async def _node_log(bus: Bus, state: Path, node: str) -> EventLog:
    """A node's EventLog as the daemon builds it: with its head persisted in ``state`` and the KV."""
    log = EventLog(bus, node, head_store=ChainHeadStore(state, bus, node))
    await log.start()
    return log


def _gap(log: EventLog) -> str | None:
    assert isinstance(log.head_store, ChainHeadStore)
    return log.head_store.gap


async def _publish(log: EventLog, n: int) -> None:
    for i in range(n):
        await log.publish("policy.reloaded", {"n": i})


async def test_deleted_oldest_events_are_not_passed_off_as_aged_out(bus: Bus) -> None:
    await _trail(bus)
    await bus.js.delete_msg(names.EVENTS_STREAM, 1)  # the stream's first message: first_seq moves to 2
    assert (await stream_facts(bus)).first_seq == 2
    report = (await _verify(bus))["n1"]
    [p] = report.problems
    assert p.kind == "start-missing" and "cannot have removed" in p.detail
    # the same stream 31 days later: its max age (30 days) can explain a missing front
    facts = await stream_facts(bus)
    old = StreamFacts(**{**facts.__dict__, "now": facts.created + 31 * 24 * 3600})
    aged = verify_chains(await read_events(bus), stream=old)["n1"]
    assert aged.ok and "may have aged out" in aged.notes[0]


async def test_all_events_of_a_stopped_node_purged_is_reported(bus: Bus, tmp_path: Path) -> None:
    await _trail(bus)
    gone = await _node_log(bus, tmp_path / "n9", "n9")
    await _publish(gone, 4)  # then the node stops for good and someone purges its subject
    await bus.js.purge_stream(names.EVENTS_STREAM, subject=names.events_subject("n9"))
    reports = await _verify(bus)
    assert reports["n1"].ok and reports["n2"].ok
    [p] = reports["n9"].problems
    assert p.kind == "purged" and "event #4" in p.detail


async def test_newest_events_deleted_while_the_node_is_down_are_reported(bus: Bus, tmp_path: Path) -> None:
    log = await _node_log(bus, tmp_path / "n4", "n4")
    await _publish(log, 5)
    for _ in range(2):  # the node is down; its two newest events are deleted
        await bus.js.delete_msg(names.EVENTS_STREAM, await _seq_of(bus, "n4", -1))
    [p] = (await _verify(bus))["n4"].problems  # from the KV copy alone, before the node is back
    assert p.kind == "tail-missing" and "newest 2 event(s) of node n4 are missing" in p.detail
    again = await _node_log(bus, tmp_path / "n4", "n4")  # restarted: it does not paper over the gap
    assert "removed from the stream while it was down" in str(_gap(again))
    await _publish(again, 1)
    kinds = sorted(p.kind for p in (await _verify(bus))["n4"].problems)
    assert kinds == ["broken", "missing"]
    assert "2 of the 6 events" in next(p.detail for p in (await _verify(bus))["n4"].problems if p.kind == "missing")


async def test_a_head_recorded_just_before_a_crash_is_not_a_gap(bus: Bus, tmp_path: Path) -> None:
    """Killed after the stream took an event but before the head was recorded: adopt the event."""
    log = await _node_log(bus, tmp_path / "n5", "n5")
    await _publish(log, 2)
    bare = EventLog(bus, "n5")  # the same chain, published without recording (the crash window)
    await bare.start()
    await bare.publish("policy.reloaded", {"n": 2})
    again = await _node_log(bus, tmp_path / "n5", "n5")
    assert _gap(again) is None
    await _publish(again, 1)
    report = (await _verify(bus))["n5"]
    assert report.ok, report.problems
    assert report.recorded and report.recorded["count"] == 4


async def test_a_stale_head_file_is_not_a_gap_when_the_kv_copy_is_newer(bus: Bus, tmp_path: Path) -> None:
    """The file could not be written for a while (a full disk): the later record of the two counts."""
    log = await _node_log(bus, tmp_path / "n6", "n6")
    await _publish(log, 2)
    head_file = tmp_path / "n6" / "audit" / "chain-head.json"
    stale = head_file.read_bytes()
    await _publish(log, 2)
    head_file.write_bytes(stale)
    again = await _node_log(bus, tmp_path / "n6", "n6")
    assert _gap(again) is None
    await _publish(again, 1)
    report = (await _verify(bus))["n6"]
    assert report.ok, report.problems
    assert report.recorded and report.recorded["count"] == 5
