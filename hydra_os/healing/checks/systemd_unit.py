"""systemd unit failed: ``systemctl show -p ActiveState,SubState,Result,NRestarts,LoadState UNIT``."""

from __future__ import annotations

import asyncio

from hydra_os.healing.context import HealingContext
from hydra_os.healing.model import CheckReport, Issue, Severity
from hydra_os.healing.systemctl import show


def unit_target(unit: str) -> str:
    return f"unit:{unit}"


class SystemdUnitCheck:
    name = "systemd_unit"

    def enabled(self, ctx: HealingContext) -> bool:
        return bool(ctx.config.units)

    async def run(self, ctx: HealingContext) -> CheckReport:
        units = ctx.config.units
        states = await asyncio.gather(*(show(ctx.config.systemctl, u) for u in units))
        report = CheckReport(check=self.name, checked=[unit_target(u) for u in units])
        for st in states:
            details = {"unit": st.unit, "ActiveState": st.active, "SubState": st.sub, "Result": st.result,
                       "NRestarts": st.n_restarts, "LoadState": st.load}
            deps = ctx.config.dependencies.get(unit_target(st.unit), [])
            if st.failed:
                report.issues.append(Issue(
                    check=self.name, target=unit_target(st.unit), details=details, depends_on=deps,
                    summary=f"{st.unit} failed ({st.result}, {st.n_restarts} automatic restarts)",
                ))
            elif st.missing:
                report.issues.append(Issue(
                    check=self.name, target=unit_target(st.unit), details=details, depends_on=deps,
                    severity=Severity.WARNING, summary=f"{st.unit} does not exist on this node",
                ))
        return report


CHECK = SystemdUnitCheck
