"""Backups missed or failing: the node's backup record (``<state_dir>/backup/status.json``) says the last
attempt failed, or that no backup succeeded within ``backup.max_age``.

The record is written by the backup service after every attempt (:mod:`hydra_os.backup.status`), so
a node that never took a backup has none and this check stays quiet there; once it has, a nightly job
that stops running (scheduler down, the task kind unhandled) shows as the record growing old. No
fixup: the incident tells the owner, and the next nightly run (or ``hydra backup now``) resolves it.
"""

from __future__ import annotations

import asyncio

from hydra_os.backup.status import read_status
from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import BackupDetails
from hydra_os.healing.model import CheckReport, Issue
from hydra_os.healing.target import Target


class BackupAgeCheck:
    name = "backup_age"
    issues = (IssueType.BACKUP_OVERDUE,)

    def enabled(self, ctx: HealingContext) -> bool:
        return True

    async def run(self, ctx: HealingContext) -> CheckReport:
        st = await asyncio.to_thread(read_status, ctx.state_dir)
        target = Target(TargetKind.BACKUP, ctx.node_id)
        report = CheckReport(check=self.name, checked=[target] if st is not None else [])
        if st is not None and (why := st.overdue()) is not None:
            report.issues.append(Issue(
                type=IssueType.BACKUP_OVERDUE, check=self.name, target=target,
                summary=f"backups of {ctx.node_id}: {why}",
                details=BackupDetails(last_attempt_at=st.last_attempt_at, last_error=st.last_error,
                                      last_ok_at=st.last_ok_at, max_age=st.max_age),
            ))
        return report


CHECK = BackupAgeCheck
