"""Per-service availability: up/down transitions from the healer's checks, and availability over a window.

Every round, each target a check looked at is either up (no issue) or down. Only changes are stored
as ``[start, end, up]`` segments per target, so a month of a stable service is one entry. Availability
over a window is the share of *observed* time the target was up: time before the first observation and
silences longer than ``max_gap_s`` (the daemon was stopped) count neither way. Bounded: segments that
ended more than ``keep_s`` ago are dropped, and at most ``max_segments`` are kept per target.
Persisted as JSON in ``<state_dir>/healing/uptime.json``, replaced atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, Field

DAY = 86400.0
MONTH = 30 * DAY


class Availability(BaseModel):
    target: str
    up: bool = Field(description="State at the last observation.")
    since: float = Field(description="When it last changed state (or was first seen).")
    availability_24h: float | None = Field(description="Share of observed time up in the last 24 h (0-1).")
    availability_30d: float | None = Field(description="Share of observed time up in the last 30 days (0-1).")
    observed_24h_s: float
    observed_30d_s: float
    down_transitions_30d: int


class _Series(BaseModel):
    segments: list[tuple[float, float, bool]] = Field(
        default_factory=list, description="[start, end, up], oldest first; gaps between them were not observed."
    )


class _File(BaseModel):
    targets: dict[str, _Series] = Field(default_factory=dict)


class UptimeLog:
    def __init__(self, path: Path, *, keep_s: float = MONTH + DAY, max_segments: int = 5000,
                 max_gap_s: float = 600.0) -> None:
        self.path = path
        self.keep_s = keep_s
        self.max_segments = max_segments
        self.max_gap_s = max_gap_s  # a longer silence (daemon stopped) is not counted as observed time
        self._data = self._load()

    def _load(self) -> _File:
        try:
            return _File.model_validate_json(self.path.read_bytes())
        except (OSError, ValueError):
            return _File()

    def observe(self, target: str, up: bool, now: float) -> None:
        """One check result. A state holds until the round that saw it change."""
        s = self._data.targets.setdefault(target, _Series())
        if s.segments and now - s.segments[-1][1] <= self.max_gap_s:
            start, _end, was_up = s.segments[-1]
            s.segments[-1] = (start, now, was_up)
            if was_up == up:
                return
        s.segments.append((now, now, up))
        cutoff = now - self.keep_s
        while s.segments and s.segments[0][1] < cutoff:
            s.segments.pop(0)
        del s.segments[: max(0, len(s.segments) - self.max_segments)]

    def down_since(self, target: str) -> float | None:
        """When the target's current outage began (the first round that saw it down); None when it is up
        or was never seen."""
        s = self._data.targets.get(target)
        if s is None or not s.segments or s.segments[-1][2]:
            return None
        since = s.segments[-1][0]
        for a, _b, up in reversed(s.segments[:-1]):
            if up:
                break
            since = a
        return since

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._data.model_dump(mode="json")))
        os.replace(tmp, self.path)

    @staticmethod
    def _window(s: _Series, start: float, end: float) -> tuple[float, float, int]:
        """(up seconds, observed seconds, times it went down) within [start, end]."""
        up_s = obs_s = 0.0
        downs = 0
        prev_up: bool | None = None
        for a, b, up in s.segments:
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                obs_s += hi - lo
                up_s += (hi - lo) if up else 0.0
            if not up and prev_up is not False and start <= a <= end:
                downs += 1
            prev_up = up
        return up_s, obs_s, downs

    def availability(self, now: float) -> list[Availability]:
        out = []
        for target, s in sorted(self._data.targets.items()):
            if not s.segments:
                continue
            up_d, obs_d, _ = self._window(s, now - DAY, now)
            up_m, obs_m, downs = self._window(s, now - MONTH, now)
            last_up = s.segments[-1][2]
            since = s.segments[-1][0]
            for a, _b, up in reversed(s.segments[:-1]):
                if up != last_up:
                    break
                since = a
            out.append(Availability(
                target=target, up=last_up, since=since,
                availability_24h=round(up_d / obs_d, 5) if obs_d else None,
                availability_30d=round(up_m / obs_m, 5) if obs_m else None,
                observed_24h_s=round(obs_d, 1), observed_30d_s=round(obs_m, 1), down_transitions_30d=downs,
            ))
        return out
