"""Restart a supervised child (model engine, embedded bus, helper) through the process supervisor."""

from __future__ import annotations

from typing import Any

from hydra_os.healing.const import IssueType
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import ModelDetails
from hydra_os.healing.errors import FixupError, HealingError
from hydra_os.healing.model import Issue
from hydra_os.healing.supervisor import ChildState
from hydra_os.policy.model import Action, BlastRadius

# the policy sees what is restarted: engines and the bus have their own kinds
KINDS = {"engine": "engine.restart", "bus": "bus.restart", "process": "process.restart"}


class RestartProcess:
    name = "restart_process"
    issues = (IssueType.CHILD_DOWN, IssueType.MODEL_SILENT)
    kind = "process.restart"
    kinds = tuple(KINDS.values())
    priority = 10

    def applies_to(self, issue: Issue, ctx: HealingContext) -> bool:
        if ctx.supervisor is None:
            return False
        # a model endpoint served by a supervised engine: restarting the engine is the repair
        name = self._child(issue)
        return name is not None and name in ctx.supervisor.names()

    @staticmethod
    def _child(issue: Issue) -> str | None:
        """The supervised child to restart for ``issue``."""
        if issue.type is IssueType.CHILD_DOWN:
            return issue.detail(ChildState).name
        return issue.detail(ModelDetails).process

    def action(self, issue: Issue, ctx: HealingContext) -> Action:
        assert ctx.supervisor is not None
        name = str(self._child(issue))
        kind = ctx.supervisor.child(name).kind
        return Action(kind=KINDS.get(kind, self.kind), target=f"process:{name}",
                      params={"name": name, "node": ctx.node_id}, reversible=True,
                      blast_radius=BlastRadius.NODE if kind == "bus" else BlastRadius.SERVICE,
                      summary=f"restart supervised {kind} {name}")

    async def execute(self, action: Action, ctx: HealingContext) -> dict[str, Any]:
        if ctx.supervisor is None:
            raise FixupError("this node supervises no processes")
        try:
            return await ctx.supervisor.restart(str(action.params["name"]))
        except HealingError as e:
            raise FixupError(str(e)) from None


FIXUP = RestartProcess
