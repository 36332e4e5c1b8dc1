"""Which backups to keep: the newest of each of the last ``keep_daily`` days and ``keep_weekly`` ISO weeks.

Days and weeks are the owner's (``owner.timezone``): a backup at 00:30 local time belongs to that day.
The newest backup is always kept, whatever its age, so a node that stopped backing up long ago still
has its last one.
"""

from __future__ import annotations

from datetime import datetime, tzinfo


def to_keep(created: list[datetime], keep_daily: int, keep_weekly: int, tz: tzinfo) -> set[datetime]:
    """The subset of ``created`` (aware datetimes) that retention keeps."""
    keep: set[datetime] = set()
    days: set[object] = set()
    weeks: set[object] = set()
    for t in sorted(created, reverse=True):
        local = t.astimezone(tz)
        day, week = local.date(), local.isocalendar()[:2]
        if day not in days and len(days) < keep_daily:
            days.add(day)
            keep.add(t)
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.add(week)
            keep.add(t)
    if created:
        keep.add(max(created))
    return keep
