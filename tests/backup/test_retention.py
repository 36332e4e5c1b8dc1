"""Retention: the newest backup of each of the last keep_daily days and keep_weekly ISO weeks, in the
owner's zone, and the newest always; pruning deletes exactly the others (real files in a directory)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hydra_os.backup.archive import archive_name
from hydra_os.backup.catalog import list_backups, prune
from hydra_os.backup.retention import to_keep

BERLIN = ZoneInfo("Europe/Berlin")


def test_daily_and_weekly_keep_the_newest_of_each() -> None:
    start = datetime(2025, 3, 3, 0, 30, tzinfo=UTC)  # a Monday
    times = [start + timedelta(days=d, hours=h) for d in range(28) for h in (0, 12)]  # two a day for 4 weeks
    keep = to_keep(times, keep_daily=3, keep_weekly=2, tz=UTC)
    newest_days = {max(t for t in times if t.date() == day) for day in {t.date() for t in times[-6:]}}
    assert newest_days <= keep
    # the two newest ISO weeks each keep their newest backup (one of them the newest overall)
    weeks = sorted({t.isocalendar()[:2] for t in times})[-2:]
    assert {max(t for t in times if t.isocalendar()[:2] == w) for w in weeks} <= keep
    assert len(keep) == 4  # 3 days + the previous week's Sunday (this week's newest is already a daily)


def test_days_are_the_owners() -> None:
    # 23:30 UTC on 1 June is 01:30 on 2 June in Berlin: with one daily slot, only the later one is kept
    a = datetime(2025, 6, 1, 21, 0, tzinfo=UTC)  # 23:00 Berlin, 1 June
    b = datetime(2025, 6, 1, 23, 30, tzinfo=UTC)  # 01:30 Berlin, 2 June
    assert to_keep([a, b], keep_daily=2, keep_weekly=0, tz=BERLIN) == {a, b}
    assert to_keep([a, b], keep_daily=2, keep_weekly=0, tz=UTC) == {b}


def test_the_newest_is_kept_however_old() -> None:
    old = datetime(2020, 1, 1, tzinfo=UTC)
    assert to_keep([old], keep_daily=1, keep_weekly=0, tz=UTC) == {old}


def test_prune_deletes_only_what_retention_drops(tmp_path: Path) -> None:
    start = datetime(2025, 3, 3, 1, 30, tzinfo=UTC)
    for d in range(10):
        (tmp_path / archive_name("n1", (start + timedelta(days=d)).timestamp())).write_bytes(b"x")
    (tmp_path / archive_name("other", start.timestamp())).write_bytes(b"x")  # another node's: untouched
    (tmp_path / "notes.txt").write_text("not a backup")
    gone = prune(tmp_path, "n1", keep_daily=3, keep_weekly=2, tz=UTC)
    left = [e.created for e in list_backups(tmp_path, "n1")]
    assert len(gone) == 10 - len(left)
    assert left == [start + timedelta(days=6), start + timedelta(days=7), start + timedelta(days=8),
                    start + timedelta(days=9)]  # 3 dailies + Sunday 9 March (last of the previous week)
    assert (tmp_path / "notes.txt").exists() and list_backups(tmp_path, "other")
