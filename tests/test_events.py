"""The event log: hash chain per node, picked up after restart, dedup across reporters."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig
from hydra_os.events import Event, EventLog
from hydra_os.policy.audit import StoredEvent, StreamFacts, read_events, stream_facts, verify_chains
from hydra_os.policy.receipts import Receipts
from tests.helpers import NatsProc, free_port, freeze


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


# ---- outages: the outbox keeps one chain (issue 18 item 7) -------------------------------------

async def _settle(log: EventLog, receipts: Receipts | None = None, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if receipts is not None:
            await receipts.flush()
        if log.queued == 0 and (receipts is None or not receipts.queued):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"outbox still holds {log.queued} event(s)")


def _verify(events: list[StoredEvent], stream: StreamFacts) -> None:
    reports = verify_chains(events, stream=stream)
    problems = [p for r in reports.values() for p in r.problems]
    assert problems == [], problems


@pytest.mark.e2e
async def test_receipts_during_a_freeze_and_a_restart_keep_one_chain(tmp_path: Path) -> None:
    srv = NatsProc("ev", free_port(), tmp_path / "nats").start()
    assert srv.proc is not None
    try:
        async with Bus([srv.url], BusConfig(reconnect_wait=0.1, request_timeout=1.0), name="ev") as bus:
            await bus.ensure_topology(3.0)
            log = EventLog(bus, "n1", tmp_path / "outbox.jsonl", retry_s=0.2)
            await log.start()
            receipts = Receipts(log)
            sent = 0
            for _ in range(3):
                await receipts.policy("t.before", n=sent)
                sent += 1
            freeze(srv.proc.pid)  # frozen: nats-py buffers, acks time out
            try:
                for _ in range(4):
                    await receipts.policy("t.frozen", n=sent)
                    sent += 1
            finally:
                os.kill(srv.proc.pid, signal.SIGCONT)
            srv.stop()  # down: the connection drops
            for _ in range(3):
                await receipts.policy("t.down", n=sent)
                sent += 1
            srv.start()  # same port and store: the stream survives (file storage)
            for _ in range(2):
                await receipts.policy("t.after", n=sent)
                sent += 1
            await _settle(log, receipts)
            events = await read_events(bus, node="n1")
            assert [e.event.data["n"] for e in events if e.event] == list(range(sent))  # none lost, none twice
            _verify(events, await stream_facts(bus))
            assert log.head == events[-1].event.hash if events[-1].event else False
    finally:
        srv.stop()


@pytest.mark.e2e
async def test_the_outbox_survives_a_restart_of_the_daemon(tmp_path: Path) -> None:
    srv = NatsProc("ev2", free_port(), tmp_path / "nats").start()
    outbox = tmp_path / "outbox.jsonl"
    try:
        async with Bus([srv.url], BusConfig(reconnect_wait=0.1, request_timeout=1.0), name="a") as bus:
            await bus.ensure_topology(3.0)
            log = EventLog(bus, "n1", outbox, retry_s=0.2)
            await log.start()
            await log.publish("t.one")
            srv.stop()
            await log.publish("t.two")  # the bus is down: durable in the outbox only
            await log.publish("t.three")
            assert log.queued == 2 and outbox.stat().st_mode & 0o777 == 0o600
            await log.stop()  # the "daemon" goes away with two events unsent
        srv.start()
        async with Bus([srv.url], BusConfig(), name="b") as bus:
            log2 = EventLog(bus, "n1", outbox, retry_s=0.2)
            await log2.start()
            await _settle(log2)
            four = await log2.publish("t.four")
            assert four is not None
            events = await read_events(bus, node="n1")
            assert [e.event.type for e in events if e.event] == ["t.one", "t.two", "t.three", "t.four"]
            _verify(events, await stream_facts(bus))
            await log2.stop()
        assert outbox.read_text() == ""  # emptied once everything was delivered
    finally:
        srv.stop()
