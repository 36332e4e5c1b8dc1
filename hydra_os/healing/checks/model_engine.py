"""Model engine down: a model the node's model manager runs has failed or stops answering its probe.

Watched by default on every node with a model manager (no ``healing.models`` needed). The manager
itself brings a crashed engine back (``engine.restart`` through the policy gate, paced by its guards),
so the issue names it as the repairer and the healer records the incident and the recovery without
submitting a second restart.
"""

from __future__ import annotations

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import EngineDetails
from hydra_os.healing.model import CheckReport, Issue
from hydra_os.healing.target import Target

DOWN = ("unhealthy", "failed")
RESTARTING = "starting"  # down only for an engine that was up before (a first start is not an outage)
REPAIRER = "the model manager (engine.restart through the policy gate)"


def engine_target(model_id: str) -> Target:
    return Target(TargetKind.ENGINE, model_id)


class ModelEngineCheck:
    name = "model_engine"
    issues = (IssueType.ENGINE_DOWN,)

    def enabled(self, ctx: HealingContext) -> bool:
        return ctx.models is not None

    async def run(self, ctx: HealingContext) -> CheckReport:
        assert ctx.models is not None
        runs = list(ctx.models.runs.values())
        ctx.seen_engines.update(r.spec_id for r in runs if r.state == "ready")
        ctx.seen_engines.difference_update(r.spec_id for r in runs if r.state == "stopped")  # owner stopped it
        watched = [r for r in runs if r.state == "ready" or r.state in DOWN
                   or (r.state == RESTARTING and r.spec_id in ctx.seen_engines)]
        report = CheckReport(check=self.name, checked=[engine_target(r.spec_id) for r in watched])
        for r in watched:
            if r.state == "ready":
                continue
            why = {"failed": "has failed", "unhealthy": "does not answer its health probe"}.get(
                r.state, "is being restarted")
            report.issues.append(Issue(
                type=IssueType.ENGINE_DOWN, check=self.name, target=engine_target(r.spec_id), repaired_by=REPAIRER,
                summary=f"the engine of model {r.spec_id} {why}" + (f": {r.error}" if r.error else ""),
                details=EngineDetails(model=r.spec_id, state=r.state, error=r.error),
                depends_on=ctx.config.dependencies.get(str(engine_target(r.spec_id)), []),
            ))
        return report


CHECK = ModelEngineCheck
