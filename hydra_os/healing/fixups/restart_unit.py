"""Restart a failed systemd unit: ``systemctl restart UNIT``, then confirm it is active."""

from __future__ import annotations

import asyncio
from typing import Any

from hydra_os.healing.const import IssueType
from hydra_os.healing.context import HealingContext
from hydra_os.healing.errors import FixupError
from hydra_os.healing.model import Issue
from hydra_os.healing.systemctl import UnitState, restart, show
from hydra_os.policy.model import Action, BlastRadius


class RestartUnit:
    name = "restart_unit"
    issues = (IssueType.UNIT_FAILED,)
    kind = "unit.restart"
    kinds = (kind,)
    priority = 10

    def applies_to(self, issue: Issue, ctx: HealingContext) -> bool:
        return issue.detail(UnitState).failed

    def action(self, issue: Issue, ctx: HealingContext) -> Action:
        unit = issue.detail(UnitState).unit
        return Action(kind=self.kind, target=str(issue.target), params={"unit": unit, "node": ctx.node_id},
                      reversible=True, blast_radius=BlastRadius.SERVICE, summary=f"restart {unit}")

    async def execute(self, action: Action, ctx: HealingContext) -> dict[str, Any]:
        unit = str(action.params["unit"])
        await restart(ctx.config.systemctl, unit)
        for _ in range(20):  # Type=notify units may take a moment to report active
            st = await show(ctx.config.systemctl, unit)
            if st.active == "active":
                return {"unit": unit, "ActiveState": st.active, "SubState": st.sub}
            if st.failed:
                break
            await asyncio.sleep(0.25)
        raise FixupError(f"{unit} is {st.active}/{st.sub} after the restart")


FIXUP = RestartUnit
