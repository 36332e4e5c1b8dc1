"""Disk nearly full: free share or free GiB under the configured floor."""

from __future__ import annotations

import asyncio
import shutil

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import DiskDetails
from hydra_os.healing.errors import CheckFailedToRun
from hydra_os.healing.model import CheckReport, Issue, Severity
from hydra_os.healing.target import Target

GIB = 1024**3


class DiskSpaceCheck:
    name = "disk_space"
    issues = (IssueType.DISK_LOW,)

    def enabled(self, ctx: HealingContext) -> bool:
        return bool(ctx.watched_disks)

    async def run(self, ctx: HealingContext) -> CheckReport:
        disks = ctx.watched_disks
        report = CheckReport(check=self.name, checked=[Target(TargetKind.DISK, str(d.path)) for d in disks])
        for d in disks:
            try:
                usage = await asyncio.to_thread(shutil.disk_usage, d.path)
            except OSError as e:
                raise CheckFailedToRun(f"cannot stat {d.path}: {e.strerror}") from None
            free_pct = 100.0 * usage.free / usage.total if usage.total else 0.0
            free_gb = usage.free / GIB
            low_pct = free_pct < d.min_free_pct
            low_gb = free_gb < d.min_free_gb
            if low_pct or low_gb:
                report.issues.append(Issue(
                    type=IssueType.DISK_LOW, check=self.name, target=Target(TargetKind.DISK, str(d.path)),
                    severity=Severity.CRITICAL if free_pct < d.min_free_pct / 2 else Severity.WARNING,
                    summary=f"{d.path} is nearly full: {free_gb:.1f} GiB ({free_pct:.1f}%) free",
                    details=DiskDetails(path=str(d.path), free_bytes=usage.free, total_bytes=usage.total,
                                        free_pct=round(free_pct, 2), min_free_pct=d.min_free_pct,
                                        min_free_gb=d.min_free_gb),
                ))
        return report


CHECK = DiskSpaceCheck
