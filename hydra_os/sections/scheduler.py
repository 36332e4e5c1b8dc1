"""Scheduler settings (``[tasks.scheduler]``) and the owner's own recurring jobs (``[[tasks.scheduler.jobs]]``).

A section of ``[tasks]``, so its schema lives with :mod:`hydra_os.sections.tasks`; the scheduler package sits
above the task queue (it enqueues tasks) and imports it from here, never the other way round.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hydra_os.durations import Seconds
from hydra_os.sections.kinds import kind_problem

_JOB_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


BuiltinJob = Literal["health", "briefing", "overnight", "memory-maintenance", "backup"]
BUILTIN_JOBS: tuple[BuiltinJob, ...] = ("health", "briefing", "overnight", "memory-maintenance", "backup")
RESERVED_JOB_IDS = frozenset({"health", "briefing", "overnight-open", "overnight-close", "memory-maintenance",
                              "backup"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class JobDef(_Model):
    """A recurring job that enqueues one task per slot (the slot's time makes its idempotency key)."""

    id: str = Field(description="Job id: lowercase letters, digits, '-' and '_'.")
    kind: str = Field(description="Task kind the job enqueues each time it fires.")
    params: dict[str, Any] = Field(default_factory=dict, description="Parameters of the enqueued task.")
    priority: int = Field(default=1, ge=0, le=3, description="0 low, 1 normal, 2 high, 3 urgent.")
    cron: str | None = Field(
        default=None, description="Five-field crontab ('m h dom mon dow') in the owner's time zone."
    )
    every_s: Seconds | None = Field(default=None, ge=1, description="Fixed interval in seconds (instead of cron).")
    window: Literal["overnight"] | None = Field(default=None, description="Run the task only inside this window.")
    gpu_vram_mb: int = Field(default=0, ge=0, description="VRAM the task needs (MB).")
    misfire_grace_s: Seconds = Field(
        default=3600, description="A slot missed by up to this much (down, leader change) still runs once."
    )

    @field_validator("id")
    @classmethod
    def _check_id(cls, v: str) -> str:
        if not _JOB_ID.match(v):
            raise ValueError("expected 1-63 characters from a-z, 0-9, '-' and '_', starting with a letter or digit")
        return v

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            CronTrigger.from_crontab(v, timezone="UTC")
        except ValueError as e:
            raise ValueError(f"expected a five-field crontab such as '0 9 * * mon' ({e})") from None
        return v

    @model_validator(mode="after")
    def _one_trigger(self) -> JobDef:
        if (self.cron is None) == (self.every_s is None):
            raise ValueError(f"job {self.id!r}: set exactly one of 'cron' or 'every_s'")
        if problem := kind_problem(self.kind):
            raise ValueError(problem)
        return self


class SchedulerConfig(_Model):
    lease_s: Seconds = Field(default=3.0, description="Leadership is taken over after this long without renewal.")
    renew_s: Seconds = Field(default=1.0, description="How often the leader renews its lock.")
    poll_s: Seconds = Field(default=0.5, description="How often a follower checks the lock.")
    job_store: str = Field(default="scheduler.sqlite", description="APScheduler SQLite job store, in the state dir.")
    health_interval_s: Seconds = Field(default=60.0, description="Health loop: how often a health sweep runs.")
    health_kind: str = Field(default="health.sweep", description="Task kind of the health loop.")
    briefing_kind: str = Field(default="briefing.morning", description="Task kind of the morning briefing.")
    briefing_lead_min: int = Field(
        default=15, ge=0, le=720, description="Start the briefing this many minutes before the owner's wake time."
    )
    memory_maintenance_kind: str = Field(default="memory.maintenance", description="Task kind of memory upkeep.")
    memory_maintenance_at: str | None = Field(
        default=None, description="HH:MM (owner's zone) for memory upkeep; default: when the overnight window opens."
    )
    backup_kind: str = Field(default="backup.run", description="Task kind of the nightly backup (hydra_os.backup).")
    builtin_jobs: list[BuiltinJob] = Field(
        default_factory=lambda: list(BUILTIN_JOBS),
        description="Which built-in recurring jobs run.",
    )
    jobs: list[JobDef] = Field(default_factory=list, description="The owner's own recurring jobs.")

    @field_validator("memory_maintenance_at")
    @classmethod
    def _check_at(cls, v: str | None) -> str | None:
        if v is not None and not _HHMM.match(v):
            raise ValueError("expected a time as HH:MM (24-hour)")
        return v

    @model_validator(mode="after")
    def _check(self) -> SchedulerConfig:
        if self.renew_s >= self.lease_s:
            raise ValueError(f"renew_s ({self.renew_s}) must be smaller than lease_s ({self.lease_s})")
        ids = [j.id for j in self.jobs]
        for i in ids:
            if ids.count(i) > 1 or i in RESERVED_JOB_IDS:
                raise ValueError(f"job id {i!r} is used twice or is a built-in job's id")
        return self
