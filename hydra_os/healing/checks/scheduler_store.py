"""Scheduler job store unreadable: APScheduler's SQLite file is not a database (or fails its check).

A corrupt ``scheduler.sqlite`` makes every start as scheduler leader fail; the leader lock backs off
(:mod:`hydra_os.scheduler.leader`) so a healthy peer leads, and this check turns the damage into one
incident whose fixup (``scheduler_store_aside``) offers to move the file aside. Read-only: the file
is opened with ``mode=ro`` and only ``PRAGMA quick_check`` runs.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import StoreDetails
from hydra_os.healing.model import CheckReport, Issue
from hydra_os.healing.target import Target
from hydra_os.scheduler.errors import job_store_damage


def store_damage(path: Path) -> str | None:
    """Blocking: None when the SQLite file reads as a healthy database, else why not."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.DatabaseError as e:
        return str(e)
    try:
        rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as e:
        return str(e)
    finally:
        db.close()
    verdict = [str(r[0]) for r in rows]
    return None if verdict == ["ok"] else "; ".join(verdict[:3])


class SchedulerStoreCheck:
    name = "scheduler_store"
    issues = (IssueType.SCHEDULER_STORE_DAMAGED,)

    def enabled(self, ctx: HealingContext) -> bool:
        return ctx.scheduler_store is not None

    async def run(self, ctx: HealingContext) -> CheckReport:
        path = ctx.scheduler_store
        assert path is not None
        target = Target(TargetKind.FILE, str(path))
        report = CheckReport(check=self.name, checked=[target] if path.exists() else [])
        if not path.exists():
            return report  # not a scheduler leader yet (or moved aside): nothing to look at
        why = await asyncio.to_thread(store_damage, path)
        if why is not None:
            report.issues.append(Issue(
                type=IssueType.SCHEDULER_STORE_DAMAGED, check=self.name, target=target,
                summary=job_store_damage(path, RuntimeError(why)), details=StoreDetails(path=str(path), error=why),
            ))
        return report


CHECK = SchedulerStoreCheck
