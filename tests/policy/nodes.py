"""Policy test rigs: real EventLog, gate, approvals store and runner on a real NATS bus.

``PolicyNode`` is what :class:`hydra_os.policy.service.PolicyService` assembles on a daemon, minus
the API and RPC, so tests can run two "nodes" on one bus in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from hydra_os.bus.client import Bus
from hydra_os.events import EventLog
from hydra_os.policy.approval_runner import ApprovalRunner
from hydra_os.policy.approvals import ApprovalStore
from hydra_os.policy.engine import PolicyEngine
from hydra_os.policy.gate import PolicyGate
from hydra_os.policy.guards.maintenance import MaintenanceSchedule
from hydra_os.policy.loader import default_policy, policy_from_text
from hydra_os.policy.model import Action, Outcome
from hydra_os.policy.receipts import Receipts
from hydra_os.policy.rules import Policy
from hydra_os.sections.policy import PolicyConfig


class Clock:
    """Injected time (the guards take a clock); starts at the real time so KV timestamps look sane."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Recorder:
    """An executor that records what it ran (the side effect tests look at)."""

    ran: list[Action] = field(default_factory=list)
    fail: bool = False

    async def __call__(self, action: Action) -> dict[str, Any]:
        self.ran.append(action)
        if self.fail:
            raise RuntimeError("boom")
        return {"n": len(self.ran)}


@dataclass
class PolicyNode:
    bus: Bus
    node_id: str
    gate: PolicyGate
    store: ApprovalStore
    runner: ApprovalRunner
    events: EventLog
    notified: list[Outcome] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.runner.stop()


async def start_node(bus: Bus, node_id: str = "n1", *, policy_text: str | None = None,
                     policy: Policy | None = None, config: PolicyConfig | None = None, clock: Any = None,
                     schedule: MaintenanceSchedule | None = None) -> PolicyNode:
    cfg = config or PolicyConfig()
    kw = {"clock": clock} if clock is not None else {}
    if policy is None:
        policy = policy_from_text(policy_text, "test.toml") if policy_text is not None else default_policy()
    events = EventLog(bus, node_id)
    await events.start()
    sched = schedule or MaintenanceSchedule(cfg.maintenance, **kw)
    gate = PolicyGate(node_id, PolicyEngine(policy), Receipts(events), cfg, sched, **kw)
    store = await ApprovalStore.open(bus, **kw)
    gate.approvals = store
    runner = ApprovalRunner(gate, store)
    node = PolicyNode(bus, node_id, gate, store, runner, events)

    async def note(out: Outcome) -> None:
        node.notified.append(out)

    gate.add_notifier(note)
    node._tasks.append(asyncio.create_task(runner.watch()))
    await asyncio.wait_for(runner.ready.wait(), 5)
    return node


async def wait_until(pred: Any, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        res = pred()
        if asyncio.iscoroutine(res):
            res = await res
        if res:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
