"""Time phrases resolve deterministically in the owner's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hydra_os.intake.timeparse import TimeParser

TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=TZ)  # a Friday afternoon
P = TimeParser("Europe/Berlin", wake_time="07:00", overnight_start="01:00")


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("research X overnight", "window", datetime(2026, 11, 21, 1, 0, tzinfo=TZ)),
        ("do it tonight", "window", datetime(2026, 11, 21, 1, 0, tzinfo=TZ)),
        ("tomorrow at 7", "at", datetime(2026, 11, 21, 7, 0, tzinfo=TZ)),
        ("tomorrow at 7:30pm", "at", datetime(2026, 11, 21, 19, 30, tzinfo=TZ)),
        ("in 2 hours", "at", datetime(2026, 11, 20, 17, 0, tzinfo=TZ)),
        ("in half an hour", "at", datetime(2026, 11, 20, 15, 30, tzinfo=TZ)),
        ("in 3 days", "at", datetime(2026, 11, 23, 15, 0, tzinfo=TZ)),
        ("at 9am", "at", datetime(2026, 11, 21, 9, 0, tzinfo=TZ)),  # 9 already passed today
        ("at 21:15", "at", datetime(2026, 11, 20, 21, 15, tzinfo=TZ)),
        ("tonight at 9", "at", datetime(2026, 11, 20, 21, 0, tzinfo=TZ)),
        ("on friday at 3pm", "at", datetime(2026, 11, 27, 15, 0, tzinfo=TZ)),  # next Friday, not today
        ("tomorrow morning", "at", datetime(2026, 11, 21, 7, 0, tzinfo=TZ)),
        ("right now", "now", NOW),
    ],
)
def test_one_off_phrases(text: str, kind: str, expected: datetime) -> None:
    w = P.parse(text, NOW)
    assert w is not None and w.kind == kind and w.at == expected


@pytest.mark.parametrize(
    ("text", "cron"),
    [
        ("every Monday at 9", {"day_of_week": "mon", "hour": "9", "minute": "0"}),
        ("every weekday at 8", {"day_of_week": "mon-fri", "hour": "8", "minute": "0"}),
        ("daily at 6:30", {"hour": "6", "minute": "30"}),
        ("every night", {"hour": "1", "minute": "0"}),
        ("every morning", {"hour": "7", "minute": "0"}),
        ("every week on friday", {"day_of_week": "fri", "hour": "7", "minute": "0"}),
        ("every hour", {"minute": "0"}),
    ],
)
def test_recurring_phrases(text: str, cron: dict[str, str]) -> None:
    w = P.parse(text, NOW)
    assert w is not None and w.kind == "recurring" and w.cron == cron


@pytest.mark.parametrize("text", ["how much VRAM at 4 bits?", "what is 2+2", "from now on I use fish", ""])
def test_no_time_phrase(text: str) -> None:
    assert P.parse(text, NOW) is None


def test_dst_and_zone_are_the_owners() -> None:
    ny = TimeParser("America/New_York")
    w = ny.parse("tomorrow at 7", datetime(2026, 3, 7, 12, 0, tzinfo=ZoneInfo("America/New_York")))
    assert w is not None and w.at is not None
    assert w.at.utcoffset() is not None and w.at.utcoffset().total_seconds() == -4 * 3600  # DST began on Mar 8
    assert "EDT" in w.describe
