from __future__ import annotations

from pathlib import Path

import pytest

from hydra_os.healing.checks.disk_space import DiskSpaceCheck
from hydra_os.healing.const import IssueType
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import DiskDetails
from hydra_os.healing.errors import CheckFailedToRun
from hydra_os.sections.healing import HealingConfig


async def test_floor(tmp_path: Path) -> None:
    ok = HealingConfig(disks=[{"path": tmp_path, "min_free_pct": 0.0}])
    assert (await DiskSpaceCheck().run(HealingContext(ok, "n1", tmp_path))).issues == []
    full = HealingConfig(disks=[{"path": tmp_path, "min_free_pct": 100.0}])
    [issue] = (await DiskSpaceCheck().run(HealingContext(full, "n1", tmp_path))).issues
    assert issue.type is IssueType.DISK_LOW
    assert str(issue.target) == f"disk:{tmp_path}" and "nearly full" in issue.summary
    assert issue.detail(DiskDetails).total_bytes > 0


async def test_missing_path_cannot_run(tmp_path: Path) -> None:
    cfg = HealingConfig(disks=[{"path": tmp_path / "nope"}])
    with pytest.raises(CheckFailedToRun, match="cannot stat"):
        await DiskSpaceCheck().run(HealingContext(cfg, "n1", tmp_path))
