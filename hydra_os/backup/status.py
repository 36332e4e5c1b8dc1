"""The node's backup record (``<state_dir>/backup/status.json``): the last attempt and the last success.

Written by the backup service after every attempt; read by the healing check (a missed or failed
backup is an incident), the briefing (age and size of the last backup) and ``hydra backup list``.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, ValidationError

from memory.core.atomic import atomic_write

STATUS_FILE = Path("backup") / "status.json"


class BackupStatus(BaseModel):
    first_attempt_at: float
    last_attempt_at: float
    last_error: str | None = None
    last_ok_at: float | None = None
    last_ok_name: str | None = None
    last_ok_size: int | None = None
    last_ok_seconds: float | None = None
    restic_snapshot: str | None = None
    max_age: float = 36 * 3600.0
    """``backup.max_age`` when the record was written: the healing check's limit (it has no settings)."""

    def overdue(self, now: float | None = None) -> str | None:
        """Why this record is an incident (the last attempt failed, or no success within max_age), or None."""
        if self.last_error is not None:
            return f"the last backup failed: {self.last_error}"
        if self.age(now) > self.max_age:
            return f"no backup for {self.age(now) / 3600:.1f} h (backup.max_age {self.max_age / 3600:g} h)"
        return None

    def age(self, now: float | None = None) -> float:
        """Seconds since the last success (since the first attempt when none succeeded yet)."""
        return (now or time.time()) - (self.last_ok_at or self.first_attempt_at)

    def line(self, now: float | None = None) -> str:
        """One line for the owner."""
        if self.last_ok_at is None:
            return f"no backup has succeeded yet; last attempt failed: {self.last_error}"
        hours = self.age(now) / 3600
        size = (self.last_ok_size or 0) / 1e6
        text = f"last backup {self.last_ok_name} {hours:.1f} h ago, {size:.1f} MB"
        if self.last_error and self.last_attempt_at > self.last_ok_at:
            text += f"; the latest attempt failed: {self.last_error}"
        return text


def read_status(state_dir: Path) -> BackupStatus | None:
    """Blocking. None when this node never attempted a backup (or the record is unreadable)."""
    try:
        return BackupStatus.model_validate_json((state_dir / STATUS_FILE).read_bytes())
    except (OSError, ValidationError, ValueError):
        return None


def write_status(state_dir: Path, status: BackupStatus) -> None:
    """Blocking; atomic."""
    path = state_dir / STATUS_FILE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, status.model_dump_json(indent=1).encode())


def record_attempt(state_dir: Path, *, ok: bool, max_age: float, error: str | None = None, name: str | None = None,
                   size: int | None = None, seconds: float | None = None, restic: str | None = None) -> BackupStatus:
    """Update the record after one attempt. Blocking."""
    now = time.time()
    old = read_status(state_dir)
    st = old or BackupStatus(first_attempt_at=now, last_attempt_at=now)
    st.last_attempt_at, st.max_age = now, max_age
    if ok:
        st.last_error = None
        st.last_ok_at, st.last_ok_name, st.last_ok_size, st.last_ok_seconds = now, name, size, seconds
        st.restic_snapshot = restic or st.restic_snapshot
    else:
        st.last_error = error
    write_status(state_dir, st)
    return st
