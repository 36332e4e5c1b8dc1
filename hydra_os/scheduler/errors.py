"""Errors of the scheduler's runtime job API.

Hierarchy::

    HydraError
    └── ScheduleError            base of this module
        ├── InvalidJobError      a job definition the owner must fix (HTTP 422, CLI exit 2)
        ├── JobExistsError       a job with that id is already stored (HTTP 409)
        └── JobNotFoundError     no stored job with that id (HTTP 404)
"""

from __future__ import annotations

from hydra_os.errors import HydraError


class ScheduleError(HydraError):
    """Base of the scheduler's runtime job errors."""


class InvalidJobError(ScheduleError):
    exit_code = 2


class JobExistsError(ScheduleError):
    exit_code = 2


class JobNotFoundError(ScheduleError):
    exit_code = 2
