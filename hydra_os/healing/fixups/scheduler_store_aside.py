"""Move a damaged scheduler job store aside, so the next leader start rebuilds it.

The file only caches APScheduler's jobs: they are re-installed on election from the config and the
``hydra_schedule`` bucket, and each slot's idempotency key keeps a catch-up from running a slot
twice. So moving it aside loses nothing, and it is reversible (the file is renamed, never deleted:
``scheduler.sqlite.corrupt-<unix time>`` next to it). The action goes through the policy gate;
the default policy has no rule for its kind, so the owner is asked first.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from hydra_os.healing.const import IssueType
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import StoreDetails
from hydra_os.healing.errors import FixupError
from hydra_os.healing.model import Issue
from hydra_os.policy.model import Action, BlastRadius


def move_aside(path: Path) -> Path:
    """Blocking: rename ``path`` (and SQLite's journal files beside it) to ``<name>.corrupt-<time>``."""
    aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    os.rename(path, aside)
    for suffix in ("-journal", "-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.rename(side, aside.with_name(aside.name + suffix))
    return aside


class SchedulerStoreAside:
    name = "scheduler_store_aside"
    issues = (IssueType.SCHEDULER_STORE_DAMAGED,)
    kind = "scheduler.store.move_aside"
    kinds = (kind,)
    priority = 10

    def applies_to(self, issue: Issue, ctx: HealingContext) -> bool:
        return ctx.scheduler_store is not None

    def action(self, issue: Issue, ctx: HealingContext) -> Action:
        path = issue.detail(StoreDetails).path
        return Action(kind=self.kind, target=str(issue.target), params={"path": path, "node": ctx.node_id},
                      reversible=True, blast_radius=BlastRadius.SERVICE,
                      summary=f"move the damaged scheduler job store {path} aside (it is rebuilt)")

    async def execute(self, action: Action, ctx: HealingContext) -> dict[str, Any]:
        path = ctx.scheduler_store
        if path is None or action.params.get("path") != str(path):  # the config is the authority
            raise FixupError(f"{action.params.get('path')!r} is not this node's scheduler job store")
        try:
            aside = await asyncio.to_thread(move_aside, path)
        except FileNotFoundError:
            return {"moved": False, "reason": f"{path} is already gone"}
        except OSError as e:
            raise FixupError(f"cannot move {path} aside: {e.strerror}") from None
        return {"moved": True, "to": str(aside)}


FIXUP = SchedulerStoreAside
