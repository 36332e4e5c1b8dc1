"""Dates and periods named in a search query (memory.archival.when)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from memory.archival.when import time_windows

ASKED = datetime(2026, 3, 4, 20, 0, tzinfo=UTC)  # a Wednesday


def spans(query: str) -> list[tuple[date, date]]:
    return [(w.start.date(), w.end.date()) for w in time_windows(query, ASKED)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # a day; without a year, the latest one that has begun by the time of asking
        ("What did I do on December 26th?", [(date(2025, 12, 26), date(2025, 12, 27))]),
        ("what happened on Dec 26, 2024", [(date(2024, 12, 26), date(2024, 12, 27))]),
        ("anything on the 20th of January?", [(date(2026, 1, 20), date(2026, 1, 21))]),
        ("notes from 2025-09-17", [(date(2025, 9, 17), date(2025, 9, 18))]),
        ("what did I say on March 2nd", [(date(2026, 3, 2), date(2026, 3, 3))]),
        ("what did I say on March 20th", [(date(2025, 3, 20), date(2025, 3, 21))]),  # not yet this year
        # holidays
        ("What did I tell you on Boxing Day?", [(date(2025, 12, 26), date(2025, 12, 27))]),
        ("what did I do for new year's eve?", [(date(2025, 12, 31), date(2026, 1, 1))]),
        ("over Christmas", [(date(2025, 12, 24), date(2025, 12, 27))]),
        # parts of months
        ("the vet in early November", [(date(2025, 11, 1), date(2025, 11, 11))]),
        ("by mid October", [(date(2025, 10, 10), date(2025, 10, 21))]),
        ("in late November", [(date(2025, 11, 21), date(2025, 12, 1))]),
        ("the first week of October", [(date(2025, 10, 1), date(2025, 10, 8))]),
        ("the last week of January", [(date(2026, 1, 25), date(2026, 2, 1))]),
        ("in March 2025", [(date(2025, 3, 1), date(2025, 4, 1))]),
        # relative to the time of asking
        ("What was I up to last week?", [(date(2026, 2, 23), date(2026, 3, 2))]),
        ("yesterday", [(date(2026, 3, 3), date(2026, 3, 4))]),
        ("last month", [(date(2026, 2, 1), date(2026, 3, 1))]),
        ("three weeks ago", [(date(2026, 2, 8), date(2026, 2, 15))]),
        # weekdays and weekends: the latest one (asked on a Wednesday)
        ("What did I do on Saturday?", [(date(2026, 2, 28), date(2026, 3, 1))]),
        ("last friday", [(date(2026, 2, 27), date(2026, 2, 28))]),
        ("on Wednesday", [(date(2026, 3, 4), date(2026, 3, 5))]),
        ("last Wednesday", [(date(2026, 2, 25), date(2026, 2, 26))]),
        ("what did I get up to over the weekend?", [(date(2026, 2, 28), date(2026, 3, 2))]),
        ("last weekend", [(date(2026, 2, 28), date(2026, 3, 2))]),
        # shifts and widening
        ("the week before Christmas", [(date(2025, 12, 17), date(2025, 12, 24))]),
        ("the day after Boxing Day", [(date(2025, 12, 27), date(2025, 12, 28))]),
        ("around the 20th of January", [(date(2026, 1, 17), date(2026, 1, 24))]),
    ],
)
def test_windows(query: str, expected: list[tuple[date, date]]) -> None:
    assert spans(query) == expected


@pytest.mark.parametrize(
    "query",
    [
        "may I ask which editor I use now?",  # the verb, not the month
        "the week before the trip",  # anchored on an event, not a date
        "the 30th of February",  # no such day, and not "February" either
        "When is my first day at the new job?",
        "what did I march for",
        "which gym do I go to on sundays?",  # a habit, no day
    ],
)
def test_no_window(query: str) -> None:
    assert spans(query) == []


def test_phrase_and_utc_bounds() -> None:
    (w,) = time_windows("What did I do on December 26th?", ASKED)
    assert w.phrase == "December 26th"
    assert w.start == datetime(2025, 12, 26, tzinfo=UTC) and w.end == datetime(2025, 12, 27, tzinfo=UTC)


def test_defaults_to_now() -> None:
    (w,) = time_windows("yesterday")
    assert w.end.date() == datetime.now(UTC).date()
