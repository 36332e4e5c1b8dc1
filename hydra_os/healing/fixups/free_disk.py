"""Free disk from known caches: delete the oldest files in the configured cache dirs, nothing else.

Only regular files inside ``healing.cache_dirs`` that live on the full filesystem are removed
(symlinks are not followed, the cache dirs themselves stay), oldest modification time first,
until the filesystem is back above its floor.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

from hydra_os.healing.const import IssueType
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import DiskDetails
from hydra_os.healing.errors import FixupError
from hydra_os.healing.model import Issue
from hydra_os.policy.model import Action, BlastRadius


def _cache_files(dirs: list[Path], dev: int) -> list[tuple[float, int, Path]]:
    files = []
    for d in dirs:
        if not d.is_dir() or d.is_symlink():
            continue
        for root, _dirs, names in os.walk(d, followlinks=False):
            for n in names:
                p = Path(root) / n
                try:
                    st = p.lstat()
                except OSError:
                    continue
                if p.is_symlink() or not p.is_file() or st.st_dev != dev:
                    continue
                files.append((st.st_mtime, st.st_size, p))
    return sorted(files)


def free_until(path: Path, need_free: int, dirs: list[Path]) -> dict[str, Any]:
    """Blocking: delete oldest cache files until ``need_free`` bytes are free on ``path``'s filesystem."""
    dev = os.stat(path).st_dev
    removed, freed = 0, 0
    for _mtime, size, p in _cache_files(dirs, dev):
        if shutil.disk_usage(path).free >= need_free:
            break
        try:
            p.unlink()
        except OSError:
            continue
        removed += 1
        freed += size
    return {"removed_files": removed, "freed_bytes": freed, "free_bytes": shutil.disk_usage(path).free}


class FreeDisk:
    name = "free_disk"
    issues = (IssueType.DISK_LOW,)
    kind = "disk.free_cache"
    kinds = (kind,)
    priority = 10

    def applies_to(self, issue: Issue, ctx: HealingContext) -> bool:
        return bool(ctx.config.cache_dirs)

    def action(self, issue: Issue, ctx: HealingContext) -> Action:
        d = issue.detail(DiskDetails)
        need = max(int(d.total_bytes * d.min_free_pct / 100), int(d.min_free_gb * 1024**3))
        return Action(kind=self.kind, target=str(issue.target),
                      params={"path": d.path, "need_free_bytes": need,
                              "cache_dirs": [str(c) for c in ctx.config.cache_dirs], "node": ctx.node_id},
                      reversible=True, blast_radius=BlastRadius.SERVICE,
                      summary=f"free disk on {d.path} by emptying known caches")

    async def execute(self, action: Action, ctx: HealingContext) -> dict[str, Any]:
        allowed = {str(c) for c in ctx.config.cache_dirs}
        dirs = [Path(c) for c in action.params["cache_dirs"] if c in allowed]  # config is the authority
        if not dirs:
            raise FixupError("no configured cache dir to free")
        need = int(action.params["need_free_bytes"])
        result = await asyncio.to_thread(free_until, Path(action.params["path"]), need, dirs)
        if result["free_bytes"] < need:
            raise FixupError(
                f"freed {result['freed_bytes']} bytes from the caches but {action.params['path']} still has "
                f"only {result['free_bytes']} bytes free (needs {need})"
            )
        return result


FIXUP = FreeDisk
