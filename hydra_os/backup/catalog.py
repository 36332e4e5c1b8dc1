"""The backups in a destination directory: listing, looking one up, pruning by retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from hydra_os.backup.archive import parse_name, read_manifest
from hydra_os.backup.errors import BackupInvalidError, BackupNotFoundError
from hydra_os.backup.retention import to_keep


@dataclass(frozen=True)
class Entry:
    path: Path
    node: str
    created: datetime
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.path.name, "node": self.node, "created": self.created.timestamp(),
                "created_iso": self.created.isoformat(), "size": self.size}


def list_backups(dest: Path, node: str | None = None) -> list[Entry]:
    """Backups in ``dest``, oldest first (by the time in their name). Blocking."""
    out = []
    if not dest.is_dir():
        return []
    for p in dest.iterdir():
        parsed = parse_name(p.name)
        if parsed is None or (node is not None and parsed[0] != node):
            continue
        out.append(Entry(p, parsed[0], parsed[1], p.stat().st_size))
    return sorted(out, key=lambda e: e.created)


def find(dest: Path, name: str) -> Path:
    """A backup by file name (or ``latest``) in ``dest``, or a path to an archive anywhere."""
    if name == "latest":
        found = list_backups(dest)
        if not found:
            raise BackupNotFoundError(f"no backups in {dest}")
        return found[-1].path
    p = Path(name)
    if p.is_file():
        return p
    if "/" not in name and (dest / name).is_file():
        return dest / name
    raise BackupNotFoundError(f"no backup {name!r} in {dest}; 'hydra backup list' shows them")


def prune(dest: Path, node: str, keep_daily: int, keep_weekly: int, tz: tzinfo) -> list[Path]:
    """Delete this node's backups that retention does not keep; returns what was deleted. Blocking."""
    entries = list_backups(dest, node)
    keep = to_keep([e.created for e in entries], keep_daily, keep_weekly, tz)
    gone = []
    for e in entries:
        if e.created not in keep:
            e.path.unlink(missing_ok=True)
            gone.append(e.path)
    return gone


def describe(path: Path) -> dict[str, Any]:
    """The manifest summary of one archive (reads only its first member)."""
    try:
        return read_manifest(path).summary()
    except BackupInvalidError as e:
        return {"error": str(e)}
