"""A real PolicyGate on the test bus (built-in or given rules), as the policy service builds it."""

from __future__ import annotations

from typing import Any

from hydra_os.bus.client import Bus
from hydra_os.events import EventLog
from hydra_os.policy.approvals import ApprovalStore
from hydra_os.policy.engine import PolicyEngine
from hydra_os.policy.gate import PolicyGate
from hydra_os.policy.guards.maintenance import MaintenanceSchedule
from hydra_os.policy.loader import default_policy, policy_from_text
from hydra_os.policy.receipts import Receipts
from hydra_os.sections.policy import PolicyConfig


async def make_gate(bus: Bus, node: str, events: EventLog | None = None, policy_text: str | None = None,
                    **cfg: Any) -> PolicyGate:
    if events is None:
        events = EventLog(bus, node)
        await events.start()
    config = PolicyConfig(**cfg)
    policy = policy_from_text(policy_text, "test.toml") if policy_text else default_policy()
    gate = PolicyGate(node, PolicyEngine(policy), Receipts(events), config, MaintenanceSchedule(config.maintenance))
    gate.approvals = await ApprovalStore.open(bus)
    return gate
