"""systemd unit failed: ``systemctl show -p ActiveState,SubState,Result,NRestarts,LoadState UNIT``."""

from __future__ import annotations

import asyncio

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.model import CheckReport, Issue, Severity
from hydra_os.healing.systemctl import show
from hydra_os.healing.target import Target


def unit_target(unit: str) -> Target:
    return Target(TargetKind.UNIT, unit)


class SystemdUnitCheck:
    name = "systemd_unit"
    issues = (IssueType.UNIT_FAILED, IssueType.UNIT_MISSING)

    def enabled(self, ctx: HealingContext) -> bool:
        return bool(ctx.config.units)

    async def run(self, ctx: HealingContext) -> CheckReport:
        units = ctx.config.units
        states = await asyncio.gather(*(show(ctx.config.systemctl, u) for u in units))
        report = CheckReport(check=self.name, checked=[unit_target(u) for u in units])
        for st in states:
            deps = ctx.config.dependencies.get(str(unit_target(st.unit)), [])
            if st.failed:
                report.issues.append(Issue(
                    type=IssueType.UNIT_FAILED, check=self.name, target=unit_target(st.unit), details=st,
                    depends_on=deps, summary=f"{st.unit} failed ({st.result}, {st.n_restarts} automatic restarts)",
                ))
            elif st.missing:
                report.issues.append(Issue(
                    type=IssueType.UNIT_MISSING, check=self.name, target=unit_target(st.unit), details=st,
                    depends_on=deps, severity=Severity.WARNING, summary=f"{st.unit} does not exist on this node",
                ))
        return report


CHECK = SystemdUnitCheck
