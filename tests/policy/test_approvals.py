"""Approvals on a real NATS bus: exactly the recorded action, exactly once, expiry = denied."""

from __future__ import annotations

import asyncio

import pytest

from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.config import BusConfig
from hydra_os.policy.approvals import ApprovalStore
from hydra_os.policy.audit import read_events
from hydra_os.policy.errors import ActionHashMismatchError, ApprovalNotFoundError, ApprovalStateError
from hydra_os.policy.model import Action, OutcomeStatus
from hydra_os.sections.policy import PolicyConfig
from tests.helpers import while_paused
from tests.policy.nodes import Clock, Recorder, start_node, wait_until

DELETE = Action(kind="data.delete", target="archival:2023", params={"older_than_days": 365},
                summary="delete archival memory older than a year")


async def _types(bus: Bus, node: str) -> list[str]:
    return [e.event.type for e in await read_events(bus, node=node) if e.event]


async def test_approve_runs_the_recorded_action_once_and_receipts_it(bus: Bus) -> None:
    node = await start_node(bus, "n1")
    try:
        rec = Recorder()
        node.gate.register_executor("data.delete", rec)
        out = await node.gate.submit(DELETE)
        assert out.status is OutcomeStatus.PENDING and out.approval_id and rec.ran == []
        stored = await node.store.get(out.approval_id)
        assert stored.action_hash == DELETE.content_hash() and stored.node == "n1"
        assert stored.action.summary == DELETE.summary

        first, changed = await node.store.approve(out.approval_id, "owner", expect_hash=stored.action_hash[:8])
        assert changed and first.state == "approved"
        await wait_until(lambda: len(rec.ran) == 1, what="approved action ran")
        await wait_until(lambda: _done(node.store, out.approval_id), what="approval finished")
        again, changed = await node.store.approve(out.approval_id, "owner")
        assert not changed and again.state == "succeeded"
        await asyncio.sleep(0.3)
        assert rec.ran == [DELETE]
        assert [o.approval_id for o in node.notified] == [out.approval_id]
        types = await _types(bus, "n1")
        assert types == ["policy.decided", "approval.requested", "policy.outcome", "approval.approved",
                         "policy.executing", "policy.outcome"]
    finally:
        await node.stop()


async def _receipted(store: ApprovalStore, aid: str, state: str) -> bool:
    return (await store.get(aid)).receipted_state == state


async def _done(store: ApprovalStore, aid: str) -> bool:
    return (await store.get(aid)).state in ("succeeded", "failed", "refused")


async def test_concurrent_approvals_from_two_nodes_run_once(bus: Bus, nats_server: EmbeddedNats) -> None:
    n1 = await start_node(bus, "n1")
    assert nats_server.url
    async with Bus([nats_server.url], BusConfig(), name="n2") as bus2:
        n2 = await start_node(bus2, "n2")
        # a second watcher for n1 too (e.g. an old process still draining): claims are CAS
        n1b = await start_node(bus2, "n1")
        try:
            rec = Recorder()
            n1.gate.register_executor("data.delete", rec)
            n1b.gate.register_executor("data.delete", rec)
            n2.gate.register_executor("data.delete", rec)
            aid = (await n1.gate.submit(DELETE)).approval_id
            assert aid
            stores = [n1.store, n2.store] * 5
            results = await asyncio.gather(*(s.approve(aid, f"owner-{i}") for i, s in enumerate(stores)))
            assert sum(changed for _, changed in results) == 1
            await wait_until(lambda: _done(n1.store, aid), what="approval finished")
            await asyncio.sleep(0.5)
            assert rec.ran == [DELETE]
            assert n1.runner.executed + n1b.runner.executed == 1 and n2.runner.executed == 0
        finally:
            await n1b.stop()
            await n2.stop()
            await n1.stop()


async def test_deny_and_unknown_ids(bus: Bus) -> None:
    node = await start_node(bus, "n1")
    try:
        rec = Recorder()
        aid = (await node.gate.submit(DELETE, rec)).approval_id
        assert aid
        denied, changed = await node.store.deny(aid, "owner", note="keep it")
        assert changed and denied.state == "denied"
        assert (await node.store.deny(aid, "owner"))[1] is False
        with pytest.raises(ApprovalStateError, match="denied"):
            await node.store.approve(aid, "owner")
        await wait_until(lambda: _has(bus, "approval.denied"), what="denied receipt")
        assert rec.ran == []
        with pytest.raises(ApprovalNotFoundError):
            await node.store.approve("nope", "owner")
        with pytest.raises(ApprovalNotFoundError):
            await node.store.approve("bad id with spaces", "owner")
    finally:
        await node.stop()


async def _has(bus: Bus, type_: str) -> bool:
    return type_ in await _types(bus, "n1")


async def test_expiry_means_denied(bus: Bus) -> None:
    clock = Clock()
    node = await start_node(bus, "n1", config=PolicyConfig(approval_expiry=60), clock=clock)
    try:
        rec = Recorder()
        aid = (await node.gate.submit(DELETE, rec)).approval_id
        assert aid
        clock.advance(61)
        assert (await node.store.get(aid)).effective_state(clock()) == "expired"
        with pytest.raises(ApprovalStateError, match="expired"):
            await node.store.approve(aid, "owner")
        assert (await node.store.get(aid)).state == "expired"
        await wait_until(lambda: _has(bus, "approval.expired"), what="expired receipt")
        # the sweeper marks overdue ones by itself too
        aid2 = (await node.gate.submit(DELETE.model_copy(update={"target": "archival:2022"}), rec)).approval_id
        assert aid2
        clock.advance(61)
        await node.runner.sweep_once(retention=3600)
        assert (await node.store.get(aid2)).state == "expired"
        # once expired, the same action escalates again into a NEW approval
        aid3 = (await node.gate.submit(DELETE, rec)).approval_id
        assert aid3 not in (aid, None)
        assert rec.ran == []
    finally:
        await node.stop()


async def test_a_changed_action_is_never_approved_or_run(bus: Bus) -> None:
    node = await start_node(bus, "n1")
    try:
        rec = Recorder()
        node.gate.register_executor("data.delete", rec)
        aid = (await node.gate.submit(DELETE)).approval_id
        assert aid
        with pytest.raises(ActionHashMismatchError, match="not deadbeef"):
            await node.store.approve(aid, "owner", expect_hash="deadbeef")
        # someone edits the stored action in the bucket, keeping the recorded hash
        stored, rev = await node.store.read(aid)
        evil = stored.model_copy(update={"action": DELETE.model_copy(update={"params": {"older_than_days": 0}})})
        await node.store.kv.update(aid, evil.model_dump_json().encode(), last=rev)
        with pytest.raises(ActionHashMismatchError, match="no longer matches"):
            await node.store.approve(aid, "owner")
        # or edits it already approved, behind the approver's back: the claim refuses it
        aid2 = (await node.gate.submit(DELETE.model_copy(update={"target": "archival:2021"}))).approval_id
        assert aid2
        await node.runner.stop()
        for t in node._tasks:
            t.cancel()
        await node.store.approve(aid2, "owner")
        stored, rev = await node.store.read(aid2)
        evil = stored.model_copy(update={"action": stored.action.model_copy(update={"target": "archival:*"})})
        await node.store.kv.update(aid2, evil.model_dump_json().encode(), last=rev)
        fresh = await start_node(bus, "n1")
        fresh.gate.register_executor("data.delete", rec)
        await wait_until(lambda: _done(fresh.store, aid2), what="claim refused")
        assert (await fresh.store.get(aid2)).state == "refused"
        assert rec.ran == []
        await fresh.stop()
    finally:
        await node.stop()


async def test_approved_while_down_runs_once_after_restart_and_interrupted_is_not_rerun(bus: Bus) -> None:
    node = await start_node(bus, "n1")
    rec = Recorder()
    node.gate.register_executor("data.delete", rec)
    aid = (await node.gate.submit(DELETE)).approval_id
    other = (await node.gate.submit(DELETE.model_copy(update={"target": "archival:2020"}))).approval_id
    assert aid and other
    await node.stop()  # the node goes down
    await node.store.approve(aid, "owner")
    # `other` was being executed when the node died
    stored, rev = await node.store.read(other)
    await node.store.kv.update(other, stored.model_copy(update={"state": "executing"}).model_dump_json().encode(),
                               last=rev)
    for _ in range(2):  # a restart, then another one: the approved action runs exactly once
        again = await start_node(bus, "n1")
        again.gate.register_executor("data.delete", rec)
        await wait_until(lambda s=again.store: _done(s, aid), what="ran after restart")
        await wait_until(lambda s=again.store: _done(s, other), what="interrupted marked")
        await asyncio.sleep(0.2)
        await again.stop()
    assert rec.ran == [DELETE]
    final = await node.store.get(other)
    assert final.state == "failed" and "restarted" in (final.error or "")


async def test_an_executing_record_the_watcher_did_not_close_is_closed_by_the_sweep_with_a_receipt(bus: Bus) -> None:
    """The watcher's start-up snapshot is not the only chance (issue 18 item 6): an ``executing``
    record of this node that this process is not running — left by a run that was killed, and missed
    or written after the watcher's initial values — is closed as failed, with a receipt, never re-run."""
    node = await start_node(bus, "n1")
    sweeper = asyncio.create_task(node.runner.sweep(0.2, retention=3600))
    try:
        rec = Recorder()
        node.gate.register_executor("data.delete", rec)
        aid = (await node.gate.submit(DELETE)).approval_id
        assert aid
        # what the killed run of n1 left: its claim (approved -> executing) through the real KV
        stored, rev = await node.store.read(aid)
        await node.store.kv.update(aid, stored.model_copy(update={"state": "executing"}).model_dump_json().encode(),
                                   last=rev)
        await wait_until(lambda: _done(node.store, aid), what="interrupted approval closed")
        final = await node.store.get(aid)
        assert final.state == "failed" and "restarted" in (final.error or "")
        await wait_until(lambda: _receipted(node.store, aid, "failed"), what="receipted")
        events = [e.event for e in await read_events(bus, node="n1") if e.event]
        outcomes = [e for e in events if e.type == "policy.outcome" and e.data.get("approval_id") == aid]
        assert [o.data["status"] for o in outcomes] == ["pending", "failed"]
        assert rec.ran == []
    finally:
        sweeper.cancel()
        await node.stop()


async def test_an_approval_is_recorded_through_a_busy_bus(bus: Bus, nats_server: EmbeddedNats) -> None:
    """The bus paused past its request timeout delays recording an approval; it does not fail it, and a
    write that landed although its answer came late is not a second approval."""
    node = await start_node(bus, "n1")
    try:
        store = await ApprovalStore.open(bus, patience_s=20)
        assert nats_server.pid is not None
        rec = await while_paused(nats_server.pid, store.create(DELETE, node.gate.decide(DELETE), "n1", 600))
        assert (await store.get(rec.id)).state == "pending"
        assert [r.id for r in await store.list(None) if r.action_hash == DELETE.content_hash()] == [rec.id]
    finally:
        await node.stop()
