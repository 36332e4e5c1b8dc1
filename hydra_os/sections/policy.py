"""The ``policy`` config section (``[policy]`` in config.toml, ``HYDRA_POLICY__*`` in the environment)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hydra_os.durations import Seconds, SecondsOrZero

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MaintenanceWindowConfig(_Section):
    """A recurring maintenance window, in the owner's time zone (``owner.timezone``)."""

    name: str = Field(min_length=1, description="Shown in receipts and `hydra maintenance list`.")
    days: list[Day] = Field(default_factory=lambda: list(DAYS), description="Days the window opens on.")
    start: str = Field(description="Opening time, HH:MM (24-hour).")
    end: str = Field(description="Closing time, HH:MM; earlier than start means it closes the next day.")
    targets: list[str] = Field(default_factory=lambda: ["*"], description="Target globs it covers.")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v):
            raise ValueError("expected a time as HH:MM (24-hour)")
        return v

    @model_validator(mode="after")
    def _check(self) -> MaintenanceWindowConfig:
        if self.start == self.end:
            raise ValueError(f"window {self.name!r}: start equals end ({self.start}); it would never open")
        return self


class PolicyConfig(_Section):
    file: Path | None = Field(
        default=None, description="The owner's policy file (TOML). Unset: the built-in defaults only."
    )
    reload_interval: Seconds = Field(
        default=2.0, description="Seconds between checks of the policy file for changes (hot reload)."
    )
    approval_expiry: Seconds = Field(
        default=24 * 3600.0, description="Seconds an ASK_FIRST action waits; expiry = denied."
    )
    hourly_budget: int = Field(
        default=30, ge=0, description="Automatic actions per node per rolling hour; beyond it they ASK_FIRST."
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Attempts per target per attempt_window; then ASK_FIRST."
    )
    attempt_window: Seconds = Field(default=900.0, description="Seconds the attempt count looks back.")
    backoff_base: SecondsOrZero = Field(default=2.0, description="Seconds to wait after the first attempt.")
    backoff_factor: float = Field(default=2.0, ge=1, le=100, description="Wait multiplier per further attempt.")
    backoff_max: SecondsOrZero = Field(default=300.0, description="Longest wait between attempts, seconds.")
    flap_history: int = Field(default=10, ge=3, le=100, description="States flap detection looks at.")
    flap_high: float = Field(
        default=0.5, gt=0, le=1, description="Share of state changes in the history that starts flapping."
    )
    flap_low: float = Field(
        default=0.25, ge=0, lt=1, description="Share of changes under which flapping stops."
    )
    execute_timeout: Seconds = Field(default=600.0, description="Seconds an executor may run.")
    expiry_sweep_interval: Seconds = Field(
        default=5.0, description="Seconds between sweeps that mark overdue approvals expired."
    )
    approval_retention: Seconds = Field(
        default=7 * 24 * 3600.0, description="Seconds finished approvals stay listed before pruning."
    )
    maintenance: list[MaintenanceWindowConfig] = Field(
        default_factory=list, description="Recurring maintenance windows (nothing restarted, nothing alerts)."
    )

    @model_validator(mode="after")
    def _check(self) -> PolicyConfig:
        if self.flap_low >= self.flap_high:
            raise ValueError(
                f"flap_low ({self.flap_low}) must be smaller than flap_high ({self.flap_high}) for hysteresis"
            )
        return self
