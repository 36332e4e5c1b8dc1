"""Supervised child down: a process the daemon owns (model engine, embedded bus) exited or stopped answering."""

from __future__ import annotations

from hydra_os.healing.context import HealingContext
from hydra_os.healing.model import CheckReport, Issue


def process_target(name: str) -> str:
    return f"process:{name}"


class ChildProcessCheck:
    name = "child_process"

    def enabled(self, ctx: HealingContext) -> bool:
        return ctx.supervisor is not None and bool(ctx.supervisor.names())

    async def run(self, ctx: HealingContext) -> CheckReport:
        assert ctx.supervisor is not None
        states = ctx.supervisor.states()
        report = CheckReport(check=self.name, checked=[process_target(s.name) for s in states])
        for s in states:
            if s.restarting or s.healthy:
                continue
            why = "is not running" if not s.running else "does not answer its health probe"
            report.issues.append(Issue(
                check=self.name, target=process_target(s.name),
                summary=f"supervised {s.kind} {s.name} {why}",
                details={"name": s.name, "kind": s.kind, "pid": s.pid, "running": s.running,
                         "down_since": s.down_since, "restarts": s.restarts},
                depends_on=ctx.config.dependencies.get(process_target(s.name), []),
            ))
        return report


CHECK = ChildProcessCheck
