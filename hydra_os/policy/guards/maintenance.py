"""Maintenance windows: while one covers a target, nothing is restarted and nothing alerts.

Two sources: recurring windows from config (days + HH:MM in the owner's time zone; an end
earlier than the start closes the next day), and ad-hoc windows (``hydra maintenance start --for
2h``) kept cluster-wide in the ``hydra_policy`` KV bucket (see :mod:`.maintenance_store`), which
every node mirrors into its :class:`MaintenanceSchedule`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from hydra_os.sections.policy import DAYS, MaintenanceWindowConfig


class AdhocWindow(BaseModel):
    id: str
    targets: list[str] = Field(default_factory=lambda: ["*"])
    start: float
    until: float
    reason: str = ""
    by: str = ""

    def covers(self, target: str, now: float) -> bool:
        return self.start <= now < self.until and any(fnmatchcase(target, g) for g in self.targets)


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def recurring_open(w: MaintenanceWindowConfig, local: datetime) -> bool:
    """Is the recurring window open at the local (owner's zone) time?"""
    day = DAYS[local.weekday()]
    yesterday = DAYS[(local - timedelta(days=1)).weekday()]
    t = local.hour * 60 + local.minute
    s, e = _minutes(w.start), _minutes(w.end)
    if s < e:
        return day in w.days and s <= t < e
    return (day in w.days and t >= s) or (yesterday in w.days and t < e)


class MaintenanceSchedule:
    def __init__(
        self,
        windows: list[MaintenanceWindowConfig],
        timezone: str = "UTC",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.windows = list(windows)
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        self.adhoc: dict[str, AdhocWindow] = {}

    def put(self, window: AdhocWindow) -> None:
        self.adhoc[window.id] = window

    def remove(self, window_id: str) -> None:
        self.adhoc.pop(window_id, None)

    def active(self, target: str) -> str | None:
        """A description of a window covering ``target`` now, or None."""
        now = self.clock()
        for a in self.adhoc.values():
            if a.covers(target, now):
                left = a.until - now
                return f"maintenance window {a.id} ({a.reason or 'ad hoc'}) for {left / 60:.0f} more min"
        local = datetime.fromtimestamp(now, self.tz)
        for w in self.windows:
            if recurring_open(w, local) and any(fnmatchcase(target, g) for g in w.targets):
                return f"maintenance window {w.name!r} ({w.start}-{w.end} {self.tz.key})"
        return None

    def describe(self) -> list[dict[str, Any]]:
        now = self.clock()
        local = datetime.fromtimestamp(now, self.tz)
        out: list[dict[str, Any]] = [
            {**a.model_dump(), "source": "ad hoc", "open": a.start <= now < a.until}
            for a in self.adhoc.values() if a.until > now
        ]
        out += [
            {**w.model_dump(), "source": "config", "open": recurring_open(w, local)} for w in self.windows
        ]
        return out
