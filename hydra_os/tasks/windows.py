"""Time windows in the owner's time zone ("overnight" = the owner's off-peak hours) and task eligibility."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from hydra_os.config import OwnerConfig
from hydra_os.tasks.model import Task


def _hhmm(value: str) -> dtime:
    h, m = value.split(":")
    return dtime(int(h), int(m))


class DailyWindow:
    """A window that opens at ``start`` and closes at ``end`` every day, local time; may cross midnight."""

    def __init__(self, name: str, start: dtime, end: dtime, tz: ZoneInfo) -> None:
        if start == end:
            raise ValueError(f"window {name}: start and end are both {start:%H:%M}")
        self.name = name
        self.start = start
        self.end = end
        self.tz = tz

    def _span(self, day: date) -> tuple[datetime, datetime]:
        s = datetime.combine(day, self.start, self.tz)
        end_day = day + timedelta(days=1) if self.end <= self.start else day
        return s, datetime.combine(end_day, self.end, self.tz)

    def _spans(self, now: float) -> list[tuple[float, float]]:
        today = datetime.fromtimestamp(now, self.tz).date()
        out = []
        for d in (-1, 0, 1, 2):
            s, e = self._span(today + timedelta(days=d))
            out.append((s.timestamp(), e.timestamp()))
        return out

    def is_open(self, now: float) -> bool:
        return any(s <= now < e for s, e in self._spans(now))

    def next_open(self, now: float) -> float:
        """``now`` when open, else when it next opens (Unix time)."""
        for s, e in self._spans(now):
            if s <= now < e:
                return now
            if s > now:
                return s
        raise AssertionError("unreachable: a daily window opens within two days")

    def next_close(self, now: float) -> float:
        """When the current (or, when closed, the next) opening ends (Unix time)."""
        for _, e in self._spans(now):
            if e > now:
                return e
        raise AssertionError("unreachable: a daily window closes within three days")

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.tz.key}"


def overnight_window(owner: OwnerConfig) -> DailyWindow:
    return DailyWindow("overnight", _hhmm(owner.overnight_start), _hhmm(owner.overnight_end), ZoneInfo(owner.timezone))


class Windows:
    """The named windows a task may ask for."""

    def __init__(self, owner: OwnerConfig) -> None:
        self.owner = owner
        self.by_name = {"overnight": overnight_window(owner)}

    def eligible_at(self, task: Task, now: float) -> float:
        """When the task may start: ``<= now`` means now. ``not_before`` first, then the window."""
        t = max(now, task.not_before or now)
        if task.window is not None:
            t = self.by_name[task.window].next_open(t)
        return t
