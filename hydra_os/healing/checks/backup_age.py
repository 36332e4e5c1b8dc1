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
from hydra_os.healing.context import HealingContext
from hydra_os.healing.model import CheckReport, Issue


class BackupAgeCheck:
    name = "backup_age"

    def enabled(self, ctx: HealingContext) -> bool:
        return True

    async def run(self, ctx: HealingContext) -> CheckReport:
        st = await asyncio.to_thread(read_status, ctx.state_dir)
        target = f"backup:{ctx.node_id}"
        report = CheckReport(check=self.name, checked=[target] if st is not None else [])
        if st is not None and (why := st.overdue()) is not None:
            report.issues.append(Issue(check=self.name, target=target, summary=f"backups of {ctx.node_id}: {why}",
                                       details=st.model_dump()))
        return report


CHECK = BackupAgeCheck
