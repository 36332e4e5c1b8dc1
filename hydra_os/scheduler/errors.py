"""Errors of the scheduler's runtime job API.

Hierarchy::

    HydraError                                       (HTTP status, code)
    └── ScheduleError            400 schedule_error     base of this module
        ├── InvalidJobError      422 job_invalid        a job definition the owner must fix (CLI exit 2)
        ├── JobExistsError       409 job_exists         a job with that id is already stored
        ├── JobNotFoundError     404 job_not_found      no stored job with that id
        └── JobStoreError        400 job_store_damaged  APScheduler's SQLite job store cannot be opened (corrupt file)
"""

from __future__ import annotations

from pathlib import Path

from hydra_os.errors import HydraError


class ScheduleError(HydraError):
    """Base of the scheduler's runtime job errors."""

    http_status = 400
    code = "schedule_error"


class InvalidJobError(ScheduleError):
    http_status = 422
    code = "job_invalid"
    exit_code = 2


class JobExistsError(ScheduleError):
    http_status = 409
    code = "job_exists"
    exit_code = 2


class JobNotFoundError(ScheduleError):
    http_status = 404
    code = "job_not_found"
    exit_code = 2


class JobStoreError(ScheduleError):
    """The job store file is unreadable; the message names it and how to move it aside."""

    code = "job_store_damaged"


def job_store_damage(path: Path, err: BaseException) -> str:
    """One line: which file is damaged and how to get going again (the jobs themselves are not lost)."""
    why = str(getattr(err, "orig", None) or err).splitlines()[0]
    return (f"scheduler job store {path} cannot be opened ({why}); it only caches the jobs (they come from the "
            "config and the hydra_schedule bucket): move it aside (healing fixup scheduler_store_aside, or "
            f"`mv {path} {path}.corrupt` with the daemon stopped) and the leader rebuilds it")
