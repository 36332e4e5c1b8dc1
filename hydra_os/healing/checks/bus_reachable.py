"""Bus unreachable: the connection is down or the server does not answer a PING in time."""

from __future__ import annotations

import math

import nats.errors

from hydra_os.healing.context import HealingContext
from hydra_os.healing.model import CheckReport, Issue

BUS_TARGET = "bus"


class BusReachableCheck:
    name = "bus_reachable"

    def enabled(self, ctx: HealingContext) -> bool:
        return ctx.bus is not None and ctx.config.check_bus

    async def run(self, ctx: HealingContext) -> CheckReport:
        assert ctx.bus is not None
        report = CheckReport(check=self.name, checked=[BUS_TARGET])
        why: str | None = None
        if not ctx.bus.status.connected:
            why = f"disconnected from {ctx.bus.status.server or 'the bus'}"
        else:
            try:
                await ctx.bus.nc.flush(timeout=math.ceil(ctx.config.bus_timeout_s))  # nats-py wants whole s
            except (nats.errors.Error, TimeoutError, OSError) as e:
                why = f"no PONG within {ctx.config.bus_timeout_s:g}s ({type(e).__name__})"
        if why:
            report.issues.append(Issue(
                check=self.name, target=BUS_TARGET, summary=f"the bus is unreachable: {why}",
                details={"server": ctx.bus.status.server, "last_error": ctx.bus.status.last_error},
            ))
        return report


CHECK = BusReachableCheck
