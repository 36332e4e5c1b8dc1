"""Bus unusable: the connection is down, the server does not answer a JetStream request in time, or
Hydra's streams and buckets are missing (a restarted server before they are recreated)."""

from __future__ import annotations

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import BusDetails
from hydra_os.healing.model import CheckReport, Issue
from hydra_os.healing.target import Target

BUS_TARGET = Target(TargetKind.BUS)


class BusReachableCheck:
    name = "bus_reachable"
    issues = (IssueType.BUS_UNUSABLE,)

    def enabled(self, ctx: HealingContext) -> bool:
        return ctx.bus is not None and ctx.config.check_bus

    async def run(self, ctx: HealingContext) -> CheckReport:
        assert ctx.bus is not None
        report = CheckReport(check=self.name, checked=[BUS_TARGET])
        why: str | None = None
        if not ctx.bus.status.connected:
            why = f"disconnected from {ctx.bus.status.server or 'the bus'}"
        else:
            # a round trip through JetStream that also finds Hydra's streams and buckets: a server that
            # answers PING but lost its memory-storage buckets (restarted) is not usable yet
            probe = await ctx.bus.probe(ctx.config.bus_timeout_s)
            if not probe.ok:
                why = str(probe)
        if why:
            report.issues.append(Issue(
                type=IssueType.BUS_UNUSABLE, check=self.name, target=BUS_TARGET,
                summary=f"the bus is unreachable or unusable: {why}",
                details=BusDetails(server=ctx.bus.status.server, last_error=ctx.bus.status.last_error),
            ))
        return report


CHECK = BusReachableCheck
