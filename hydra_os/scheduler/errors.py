"""Errors of the scheduler's runtime job API.

Hierarchy::

    HydraError
    └── ScheduleError            base of this module
        ├── InvalidJobError      a job definition the owner must fix (HTTP 422, CLI exit 2)
        ├── JobExistsError       a job with that id is already stored (HTTP 409)
        ├── JobNotFoundError     no stored job with that id (HTTP 404)
        └── JobStoreError        APScheduler's SQLite job store cannot be opened (corrupt file)
"""

from __future__ import annotations

from pathlib import Path

from hydra_os.errors import HydraError


class ScheduleError(HydraError):
    """Base of the scheduler's runtime job errors."""


class InvalidJobError(ScheduleError):
    exit_code = 2


class JobExistsError(ScheduleError):
    exit_code = 2


class JobNotFoundError(ScheduleError):
    exit_code = 2


class JobStoreError(ScheduleError):
    """The job store file is unreadable; the message names it and how to move it aside."""


def job_store_damage(path: Path, err: BaseException) -> str:
    """One line: which file is damaged and how to get going again (the jobs themselves are not lost)."""
    why = str(getattr(err, "orig", None) or err).splitlines()[0]
    return (f"scheduler job store {path} cannot be opened ({why}); it only caches the jobs (they come from the "
            "config and the hydra_schedule bucket): move it aside (healing fixup scheduler_store_aside, or "
            f"`mv {path} {path}.corrupt` with the daemon stopped) and the leader rebuilds it")
