"""The gate on a real NATS bus: levels, guards, notifiers and receipts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hydra_os.bus.client import Bus
from hydra_os.policy.audit import read_events
from hydra_os.policy.guards.maintenance import AdhocWindow
from hydra_os.policy.model import Action, Gate, Level, OutcomeStatus
from hydra_os.sections.policy import PolicyConfig
from tests.policy.nodes import Clock, PolicyNode, Recorder, start_node

RESTART = Action(kind="service.restart", target="unit:ollama.service")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def node(bus: Bus, clock: Clock) -> AsyncIterator[PolicyNode]:
    cfg = PolicyConfig(hourly_budget=5, max_attempts=3, attempt_window=600, backoff_base=2, backoff_factor=2)
    n = await start_node(bus, "n1", config=cfg, clock=clock)
    yield n
    await n.stop()


async def test_gate_satisfies_the_seam(node: PolicyNode) -> None:
    assert isinstance(node.gate, Gate)


async def test_autonomous_runs_and_leaves_receipts(bus: Bus, node: PolicyNode) -> None:
    rec = Recorder()
    out = await node.gate.submit(RESTART, rec)
    assert out.status is OutcomeStatus.SUCCEEDED and out.result == {"n": 1}
    assert out.decision.level is Level.AUTONOMOUS and out.decision.rule_id == "auto-restart"
    assert rec.ran == [RESTART]
    assert node.notified == []  # AUTONOMOUS does not notify
    types = [e.event.type for e in await read_events(bus, node="n1") if e.event]
    assert types == ["policy.decided", "policy.executing", "policy.outcome"]


async def test_inform_after_runs_then_notifies_with_failure_too(node: PolicyNode) -> None:
    rec = Recorder(fail=True)
    out = await node.gate.submit(Action(kind="nixos.rollback", target="node:n1"), rec)
    assert out.status is OutcomeStatus.FAILED and "RuntimeError: boom" in (out.error or "")
    assert [o.status for o in node.notified] == [OutcomeStatus.FAILED]


async def test_never_is_refused_and_never_runs(node: PolicyNode) -> None:
    rec = Recorder()
    out = await node.gate.submit(Action(kind="disk.format", target="disk:/dev/sda"), rec)
    assert out.status is OutcomeStatus.REFUSED and rec.ran == []


async def test_registered_executor_is_used_and_missing_one_fails_cleanly(node: PolicyNode) -> None:
    rec = Recorder()
    node.gate.register_executor("service.*", rec)
    assert (await node.gate.submit(RESTART)).status is OutcomeStatus.SUCCEEDED
    out = await node.gate.submit(Action(kind="backup.run", target="restic:home"))
    assert out.status is OutcomeStatus.FAILED and "no executor" in (out.error or "")
    assert len(rec.ran) == 1


async def test_backoff_defers_then_attempts_escalate_to_ask_first_once(node: PolicyNode, clock: Clock) -> None:
    rec = Recorder()
    assert (await node.gate.submit(RESTART, rec)).executed
    deferred = await node.gate.submit(RESTART, rec)
    assert deferred.status is OutcomeStatus.DEFERRED and deferred.retry_after == pytest.approx(2)
    assert "backoff" in deferred.decision.reason
    clock.advance(2)
    assert (await node.gate.submit(RESTART, rec)).executed
    clock.advance(4)
    assert (await node.gate.submit(RESTART, rec)).executed
    clock.advance(8)
    # a service that keeps crashing: every further try escalates, to ONE approval
    outs = [await node.gate.submit(RESTART, rec) for _ in range(5)]
    assert {o.status for o in outs} == {OutcomeStatus.PENDING}
    assert len({o.approval_id for o in outs}) == 1
    d = outs[0].decision
    assert d.level is Level.ASK_FIRST and d.base_level is Level.AUTONOMOUS and d.guard == "attempts"
    assert "3 attempts on unit:ollama.service" in d.reason
    assert len(rec.ran) == 3
    assert len(await node.store.list(("pending",))) == 1


async def test_budget_exhaustion_degrades_and_says_so(node: PolicyNode, clock: Clock) -> None:
    rec = Recorder()
    for i in range(5):  # budget is 5 per hour, different targets so attempts do not interfere
        assert (await node.gate.submit(Action(kind="service.restart", target=f"unit:s{i}"), rec)).executed
    out = await node.gate.submit(Action(kind="service.restart", target="unit:s9"), rec)
    assert out.status is OutcomeStatus.PENDING and out.decision.guard == "budget"
    assert "hourly action budget exhausted (5 of 5" in out.decision.reason
    assert "degraded AUTONOMOUS to ASK_FIRST" in out.decision.reason
    # ASK_FIRST and NEVER are unaffected by the budget; an hour later it is back
    clock.advance(3601)
    assert (await node.gate.submit(Action(kind="service.restart", target="unit:s10"), rec)).executed


async def test_flapping_target_escalates(node: PolicyNode) -> None:
    for s in ["ok", "failed"] * 5:
        node.gate.observe(RESTART.target, s)
    out = await node.gate.submit(RESTART, Recorder())
    assert out.status is OutcomeStatus.PENDING and out.decision.guard == "flapping"
    assert "is flapping" in out.decision.reason


async def test_maintenance_suppresses_actions_and_notifications(node: PolicyNode, clock: Clock) -> None:
    rec = Recorder()
    node.gate.schedule.put(AdhocWindow(id="m1", targets=["node:*"], start=clock(), until=clock() + 60))
    assert node.gate.in_maintenance("node:n1") and not node.gate.in_maintenance("unit:x")
    out = await node.gate.submit(Action(kind="nixos.rollback", target="node:n1"), rec)
    assert out.status is OutcomeStatus.SUPPRESSED
    assert "maintenance window m1" in out.decision.reason
    assert rec.ran == [] and node.notified == []
    # NEVER is still refused, and nothing parks during maintenance
    assert (await node.gate.submit(Action(kind="disk.wipe", target="node:n1"), rec)).status is OutcomeStatus.REFUSED
    assert (await node.gate.submit(Action(kind="data.delete", target="node:n1"), rec)).status is \
        OutcomeStatus.SUPPRESSED
    clock.advance(61)
    assert (await node.gate.submit(Action(kind="nixos.rollback", target="node:n1"), rec)).executed
    assert len(node.notified) == 1


async def test_decide_has_no_side_effects(node: PolicyNode) -> None:
    for _ in range(10):
        assert node.gate.decide(RESTART).level is Level.AUTONOMOUS
    assert node.gate.budget.used() == 0 and node.gate.attempts.check(RESTART.target).count == 0
