from __future__ import annotations

import os
import shutil
from pathlib import Path

from hydra_os.healing.const import IssueType, TargetKind
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import DiskDetails
from hydra_os.healing.fixups.free_disk import FreeDisk, free_until
from hydra_os.healing.model import Issue
from hydra_os.healing.target import Target
from hydra_os.sections.healing import HealingConfig


def test_deletes_oldest_cache_files_only(tmp_path: Path) -> None:
    cache, keep = tmp_path / "cache", tmp_path / "data"
    (cache / "sub").mkdir(parents=True)
    keep.mkdir()
    for i, name in enumerate(["a", "b", "sub/c"]):
        p = cache / name
        p.write_bytes(b"x" * 4096)
        os.utime(p, (1000 + i, 1000 + i))
    (keep / "precious").write_bytes(b"y")
    (cache / "link").symlink_to(keep / "precious")
    # a need no disk meets: every cache file goes, nothing else does
    out = free_until(tmp_path, shutil.disk_usage(tmp_path).total * 2, [cache])
    assert out["removed_files"] == 3 and out["freed_bytes"] == 3 * 4096
    assert not (cache / "a").exists() and not (cache / "sub/c").exists()
    assert (keep / "precious").exists() and (cache / "link").is_symlink()
    assert cache.is_dir() and (cache / "sub").is_dir()


async def test_action_and_execute_stay_in_configured_dirs(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "f").write_bytes(b"z" * 10)
    ctx = HealingContext(HealingConfig(cache_dirs=[cache]), "n1", tmp_path)
    usage = shutil.disk_usage(tmp_path)
    issue = Issue(type=IssueType.DISK_LOW, check="disk_space", target=Target(TargetKind.DISK, str(tmp_path)),
                  summary="x", details=DiskDetails(path=str(tmp_path), free_bytes=usage.free, total_bytes=usage.total,
                                                   free_pct=0.0, min_free_pct=0.0, min_free_gb=0.0))
    fx = FreeDisk()
    assert fx.applies_to(issue, ctx)
    action = fx.action(issue, ctx)
    assert action.kind == "disk.free_cache" and action.params["cache_dirs"] == [str(cache)]
    # an action naming a directory that is not configured touches nothing there
    other = tmp_path / "other"
    other.mkdir()
    (other / "g").write_bytes(b"1")
    forged = action.model_copy(update={"params": {**action.params, "cache_dirs": [str(other), str(cache)]}})
    await fx.execute(forged, ctx)
    assert (other / "g").exists()
    assert not fx.applies_to(issue, HealingContext(HealingConfig(), "n1", tmp_path))
