"""NixOS rollback: when the running system is not the booted one and something critical broke,
go back one generation (``nix-env --rollback`` + ``switch-to-configuration switch``).

Offered with ``healing.nixos_rollback_on_failure`` (on by default; the policy's ``nixos.rollback`` level,
INFORM_AFTER by default, decides whether it runs) and after the cheaper fixups (priority 90), only for
a critical issue of a local service (unit, endpoint, model, engine, process, bus) whose outage began
after the running system was activated (the availability record says when it went down) — never for
another node gone, a GPU or a full disk, nor for an outage older than the switch. With
``healing.nixos.helper_unit`` (set by the NixOS module) the unprivileged daemon asks the root helper unit
``hydra-os-nixos@rollback-<gen>.service`` to do it (:mod:`hydra_os.nixos.privileged`); otherwise (a
root daemon, tests) it runs the commands itself. Every rollback is recorded for the briefing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hydra_os.healing.context import HealingContext
from hydra_os.healing.errors import FixupError
from hydra_os.healing.model import Issue, Severity
from hydra_os.nixos.errors import NixosError
from hydra_os.nixos.helper import Verb
from hydra_os.nixos.ledger import FailedRevisions, Rollbacks
from hydra_os.nixos.privileged import rollback_target, run_helper
from hydra_os.nixos.switch import SafeSwitch
from hydra_os.nixos.system import system_state
from hydra_os.policy.model import Action, BlastRadius

LOCAL_SERVICES = ("unit:", "http:", "model:", "engine:", "process:", "bus")


def activated_at(current_system: Path) -> float | None:
    """When the running system was activated: activation re-points the current-system link."""
    try:
        return current_system.lstat().st_mtime
    except OSError:
        return None


class NixosRollback:
    name = "nixos_rollback"
    kind = "nixos.rollback"
    kinds = (kind,)
    priority = 90

    def applies_to(self, issue: Issue, ctx: HealingContext) -> bool:
        if not ctx.config.nixos_rollback_on_failure or issue.severity is not Severity.CRITICAL:
            return False
        if not issue.target.startswith(LOCAL_SERVICES):
            return False  # another node gone, a GPU or a full disk: a configuration change did not cause it
        if not system_state(ctx.config.nixos).switched_since_boot:
            return False
        # only an outage that began after the running system was activated can be the switch's doing
        down = ctx.uptime.down_since(issue.target) if ctx.uptime is not None else None
        activated = activated_at(ctx.config.nixos.current_system)
        return down is not None and activated is not None and down >= activated

    def action(self, issue: Issue, ctx: HealingContext) -> Action:
        st = system_state(ctx.config.nixos)
        return Action(kind=self.kind, target=f"node:{ctx.node_id}",
                      params={"from": st.current, "because": issue.target}, reversible=True,
                      blast_radius=BlastRadius.NODE,
                      summary=f"roll NixOS back one generation ({issue.summary})")

    async def execute(self, action: Action, ctx: HealingContext) -> dict[str, Any]:
        st = system_state(ctx.config.nixos)
        if st.current != action.params["from"]:
            raise FixupError("the running system changed since this rollback was decided; not rolling back")
        log = Rollbacks(ctx.state_dir / "nixos" / "rollbacks.json")
        because = str(action.params.get("because", ""))
        try:
            result = await (self._via_helper(ctx, st.booted) if ctx.config.nixos.helper_unit
                            else self._direct(ctx))
        except (NixosError, FixupError) as e:
            await asyncio.to_thread(log.record, str(st.current), None, because, ok=False, detail=str(e))
            raise FixupError(str(e)) from None
        await asyncio.to_thread(log.record, str(st.current), str(result.get("to")), because, ok=True,
                                detail=str(result.get("via")))
        return {"from": st.current, **result}

    async def _direct(self, ctx: HealingContext) -> dict[str, Any]:
        sw = SafeSwitch(ctx.config.nixos, FailedRevisions(ctx.state_dir / "nixos" / "failed-revisions.json"),
                        ctx.state_dir / "nixos", node_id=ctx.node_id)
        out = await sw.rollback()
        if not out.ok:
            raise FixupError("; ".join(out.problems))
        return {"to": out.toplevel, "via": "direct"}

    async def _via_helper(self, ctx: HealingContext, booted: str | None) -> dict[str, Any]:
        gen = rollback_target(ctx.config.nixos, booted)
        out = await run_helper(ctx.config.nixos, ctx.config.systemctl, Verb.ROLLBACK, gen)
        if not out.ok:
            raise FixupError(f"{out.unit}: {out.result} (exit {out.exit_status}) {out.message}".strip())
        return {"to": system_state(ctx.config.nixos).current, "generation": gen, "via": out.unit,
                "helper": out.helper}


FIXUP = NixosRollback
