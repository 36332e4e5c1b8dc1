"""NixOS rollback: when the running system is not the booted one and something critical broke,
go back one generation (``nix-env --rollback`` + ``switch-to-configuration switch``).

Offered only with ``healing.nixos_rollback_on_failure`` and after the cheaper fixups (priority 90).
"""

from __future__ import annotations

from typing import Any

from hydra_os.healing.context import HealingContext
from hydra_os.healing.errors import FixupError, NixosError
from hydra_os.healing.model import Issue, Severity
from hydra_os.nixos.ledger import FailedRevisions
from hydra_os.nixos.switch import SafeSwitch
from hydra_os.nixos.system import system_state
from hydra_os.policy.model import Action, BlastRadius


class NixosRollback:
    name = "nixos_rollback"
    kind = "nixos.rollback"
    kinds = (kind,)
    priority = 90

    def applies_to(self, issue: Issue, ctx: HealingContext) -> bool:
        if not ctx.config.nixos_rollback_on_failure or issue.severity is not Severity.CRITICAL:
            return False
        return system_state(ctx.config.nixos).switched_since_boot

    def action(self, issue: Issue, ctx: HealingContext) -> Action:
        st = system_state(ctx.config.nixos)
        return Action(kind=self.kind, target=f"node:{ctx.node_id}",
                      params={"from": st.current, "because": issue.target}, reversible=True,
                      blast_radius=BlastRadius.NODE,
                      summary=f"roll NixOS back one generation ({issue.summary})")

    async def execute(self, action: Action, ctx: HealingContext) -> dict[str, Any]:
        if system_state(ctx.config.nixos).current != action.params["from"]:
            raise FixupError("the running system changed since this rollback was decided; not rolling back")
        sw = SafeSwitch(ctx.config.nixos, FailedRevisions(ctx.state_dir / "nixos" / "failed-revisions.json"),
                        ctx.state_dir / "nixos", node_id=ctx.node_id)
        try:
            out = await sw.rollback()
        except NixosError as e:
            raise FixupError(str(e)) from None
        if not out.ok:
            raise FixupError("; ".join(out.problems))
        return {"from": out.previous, "to": out.toplevel}


FIXUP = NixosRollback
