"""The ``[backup]`` config section (``HYDRA_BACKUP__*`` in the environment)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hydra_os.durations import Seconds

DEFAULT_SUBDIR = "backups"


class BackupConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    destination: Path | None = Field(
        default=None,
        description="Directory the backups are written to (a local disk or a mounted NAS path). "
        "Unset: <state_dir>/backups (not itself backed up; it does not survive a lost disk: set a NAS path).",
    )
    keep_daily: int = Field(default=7, ge=1, le=366, description="Newest backup of each of the last N days kept.")
    keep_weekly: int = Field(default=4, ge=0, le=520, description="Newest backup of each of the last N ISO weeks kept.")
    at: str | None = Field(
        default=None, description="HH:MM (owner's zone) of the nightly backup; default: 30 min after the overnight "
        "window opens.",
    )
    max_age: Seconds = Field(
        default=36 * 3600.0, ge=60,
        description="A newest backup older than this is an incident (missed or failed nightly backups).",
    )
    compression_level: int = Field(default=3, ge=1, le=19, description="zstd level of the archive.")
    restic_repository: str | None = Field(
        default=None, description="Also copy each backup into this restic repository (when restic is on PATH).",
    )
    restic_password_file: Path | None = Field(
        default=None, description="The restic repository's password file (passed as RESTIC_PASSWORD_FILE).",
    )
    timeout: Seconds = Field(default=3600.0, ge=10, description="Seconds a whole backup or restore step may take.")

    @field_validator("at")
    @classmethod
    def _hhmm(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v):
            raise ValueError("expected a time as HH:MM (24-hour)")
        return v

    def destination_for(self, state_dir: Path) -> Path:
        return self.destination or state_dir / DEFAULT_SUBDIR
