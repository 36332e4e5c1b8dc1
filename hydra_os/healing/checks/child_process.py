"""Supervised child down: a process the daemon owns (model engine, embedded bus) exited or stopped answering."""

from __future__ import annotations

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.model import CheckReport, Issue
from hydra_os.healing.target import Target


def process_target(name: str) -> Target:
    return Target(TargetKind.PROCESS, name)


class ChildProcessCheck:
    name = "child_process"
    issues = (IssueType.CHILD_DOWN,)

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
                type=IssueType.CHILD_DOWN, check=self.name, target=process_target(s.name),
                summary=f"supervised {s.kind} {s.name} {why}",
                details=s, depends_on=ctx.config.dependencies.get(str(process_target(s.name)), []),
            ))
        return report


CHECK = ChildProcessCheck
