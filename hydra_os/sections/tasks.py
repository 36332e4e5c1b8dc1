"""Task queue settings: the ``[tasks]`` section (the scheduler's is ``[tasks.scheduler]``)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hydra_os.durations import Seconds, SecondsOrZero
from hydra_os.sections.scheduler import SchedulerConfig

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class TasksConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    concurrency: int = Field(default=8, ge=1, le=1024, description="Tasks one worker node runs at once.")
    ack_wait_s: Seconds = Field(
        default=30.0, ge=0.5, description="A task whose worker stops heartbeating is redelivered after this long."
    )
    max_failures: int = Field(default=3, ge=1, le=100, description="Handler failures before a task is failed.")
    backoff_base_s: Seconds = Field(default=5.0, description="First retry delay; doubles per failure.")
    backoff_max_s: Seconds = Field(default=600.0, description="Longest retry delay.")
    short_defer_s: SecondsOrZero = Field(
        default=30.0,
        description="A task due within this long waits in the stream (nak with delay); later ones in the pending set.",
    )
    resource_recheck_s: Seconds = Field(default=2.0, description="Recheck delay when this node lacks VRAM.")
    unknown_kind_recheck_s: Seconds = Field(
        default=30.0, description="Recheck delay for a task kind no worker here handles."
    )
    release_interval_s: Seconds = Field(default=1.0, description="How often workers release due pending tasks.")
    enqueue_grace_s: Seconds = Field(
        default=10.0, description="An enqueue not finished within this long is completed by a worker."
    )
    enqueue_patience_s: SecondsOrZero = Field(
        default=20.0, description="How long an enqueue retries its (idempotent) writes while the bus does not answer."
    )
    poll_s: Seconds = Field(default=1.0, description="Idle workers poll the queue at least this often.")
    max_ack_pending: int = Field(default=20000, ge=100, description="Tasks delivered but not yet acked, cluster-wide.")
    kind_modules: list[str] = Field(
        default_factory=list, description="Python modules whose register(registry) adds task kinds on workers."
    )
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig, description="The recurring-job scheduler.")

    @field_validator("kind_modules", mode="before")
    @classmethod
    def _split(cls, v: object) -> object:
        if isinstance(v, str):
            return [m.strip() for m in v.split(",") if m.strip()]
        return v

    @field_validator("kind_modules")
    @classmethod
    def _check_modules(cls, v: list[str]) -> list[str]:
        for m in v:
            if not _MODULE.match(m):
                raise ValueError(f"expected a dotted Python module name, got {m!r}")
        return v

    @model_validator(mode="after")
    def _check(self) -> TasksConfig:
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("backoff_max_s must be at least backoff_base_s")
        return self

    @property
    def heartbeat_s(self) -> float:
        """In-progress acks and lease renewals: three per ack_wait."""
        return self.ack_wait_s / 3
