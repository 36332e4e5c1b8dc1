"""The dates and periods a search query names, as time windows: "what did I do on December 26th?".

People key questions about their past by time far more than by the words they used then ("the
week before Christmas", "in early November", "last week"). Those words never occur in the passage,
so neither the vector nor the BM25 side can find it; the passage's time can. This module turns the
time phrases of a query into half-open UTC windows ``[start, end)``; hybrid search then ranks the
passages inside each window as one more ranking of the fusion (:mod:`memory.archival.store`).

Understood (case-insensitive, anywhere in the query):

- a day: "December 26th", "Dec 26", "26 December", "the 20th of January", "2025-12-26", each with an
  optional year; holidays "Christmas Eve", "Christmas" (24th-26th), "Boxing Day", "New Year's Eve",
  "New Year's Day", "Valentine's Day", "Halloween";
- part of a month: "in March", "early/mid/late November", "the beginning/end of January",
  "the first/second/third/last week of October";
- relative to ``now``: "today", "yesterday", "the day before yesterday", "this/last week",
  "this/last month", "N days/weeks/months ago" ("a few", "a couple of", "two" ... count as words),
  a weekday ("on Saturday", "last Friday": the latest one), "last weekend", "over the weekend";
- shifts of any of those: "the week before Christmas", "the day after Boxing Day";
  "around"/"about" before a day widens it by three days each side.

A date without a year is its latest occurrence that has begun by ``now`` (asked in March,
"December 26th" is last December's). A month named alone needs a preposition or modifier ("in
May", "early March") so the verb "may" and "march" are not read as months. Phrases anchored on an
event ("the week before the trip") are not dates and are left to the words of the query.

Why not ``dateparser``: its ``search_dates`` costs milliseconds per query on the search path, reads
"now", "may" and bare numbers as dates, and has no notion of periods ("early November", "last
week"), which are most of what people ask.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS["sept"] = 9
MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_ORD = r"(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<year>(?:19|20)\d{2}))?"
_COUNT_WORDS = {
    "a": 1, "an": 1, "one": 1, "a couple of": 2, "a few": 3, "couple of": 2, "few": 3, "two": 2, "three": 3,
    "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}
_WEEK_ORD = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3}
_HOLIDAYS = {  # name pattern -> (month, day, days)
    r"christmas\s+eve": (12, 24, 1),
    r"christmas(?:\s+day)?|xmas": (12, 24, 3),
    r"boxing\s+day": (12, 26, 1),
    r"new\s+year'?s?\s+eve|nye": (12, 31, 1),
    r"new\s+year'?s?\s+day": (1, 1, 1),
    r"valentine'?s?(?:\s+day)?": (2, 14, 1),
    r"hallowe'?en": (10, 31, 1),
}


@dataclass(frozen=True)
class TimeWindow:
    """A half-open UTC interval a query refers to, and the words that named it."""

    start: datetime
    end: datetime
    phrase: str


@dataclass(frozen=True)
class Hit:
    start: date
    end: date  # exclusive
    span: tuple[int, int]


def midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _latest(month: int, day: int, year: str | None, today: date, nearest: bool = False) -> date | None:
    """The given month/day in ``year``, or its latest occurrence that has begun by ``today`` (with
    ``nearest``: the occurrence closest to ``today``, past or future)."""
    try:
        if year:
            return date(int(year), month, day)
        if nearest:
            return min((date(today.year + k, month, day) for k in (-1, 0, 1)), key=lambda d: abs(d - today))
        d = date(today.year, month, day)
        return d if d <= today else date(today.year - 1, month, day)
    except ValueError:  # February 30th and the like: not a date
        return None


def _month_span(month: int, year: str | None, today: date) -> tuple[date, date]:
    y = int(year) if year else (today.year if month <= today.month else today.year - 1)
    last = calendar.monthrange(y, month)[1]
    return date(y, month, 1), date(y, month, last) + timedelta(days=1)


def count_of(word: str) -> int:
    return int(word) if word.isdigit() else _COUNT_WORDS.get(re.sub(r"\s+", " ", word.lower()), 1)


def day_hits(text: str, today: date, nearest: bool = False) -> list[Hit]:
    """Days named by month and day, ISO dates and holidays; without a year, see :func:`_latest`."""
    out: list[Hit] = []
    pats = [
        rf"\b{MONTH}\s+(?P<day>\d{{1,2}}){_ORD}\b{_YEAR}",
        rf"\b(?:the\s+)?(?P<day>\d{{1,2}}){_ORD}\s+(?:of\s+)?{MONTH}\b{_YEAR}",
    ]
    for pat in pats:
        for m in re.finditer(pat, text, re.IGNORECASE):
            d = _latest(_MONTHS[m["month"].lower()], int(m["day"]), m["year"], today, nearest)
            if d is not None:
                out.append(Hit(d, d + timedelta(days=1), m.span()))
    for m in re.finditer(r"\b(?P<y>(?:19|20)\d{2})-(?P<m>\d{2})-(?P<d>\d{2})\b", text):
        try:
            d = date(int(m["y"]), int(m["m"]), int(m["d"]))
        except ValueError:
            continue
        out.append(Hit(d, d + timedelta(days=1), m.span()))
    for pat, (month, day, n) in _HOLIDAYS.items():
        for m in re.finditer(rf"\b(?:{pat})(?=\W|$)", text, re.IGNORECASE):
            d = _latest(month, day, None, today, nearest)
            if d is not None:
                out.append(Hit(d, d + timedelta(days=n), m.span()))
    return out


_DAY_BEFORE = re.compile(r"\d(?:st|nd|rd|th)?\s+$", re.IGNORECASE)


def _months(text: str, today: date) -> list[Hit]:
    out: list[Hit] = []
    part = (
        r"(?P<part>early|mid|middle\s+of|late|the\s+(?:beginning|start|end|middle)\s+of|(?:the\s+)?"
        r"(?P<week>first|1st|second|2nd|third|3rd|fourth|4th|last)\s+week\s+of)"
    )
    pat = rf"\b(?:(?:in|during|over|throughout|since|of|from|by)\s+(?:the\s+)?(?:month\s+of\s+)?|{part}[\s-]+)" \
        rf"{MONTH}(?!\s*\d{{1,2}}\b)\b{_YEAR}"
    for m in re.finditer(pat, text, re.IGNORECASE):
        if _DAY_BEFORE.search(text[: m.start()]):  # "the 30th of February": a day that is no date
            continue
        start, end = _month_span(_MONTHS[m["month"].lower()], m["year"], today)
        p = (m["part"] or "").lower()
        if m["week"]:
            w = m["week"].lower()
            start, end = (end - timedelta(days=7), end) if w == "last" else (
                start + timedelta(days=7 * _WEEK_ORD[w]), start + timedelta(days=7 * _WEEK_ORD[w] + 7))
        elif p in ("early", "the beginning of", "the start of"):
            end = start + timedelta(days=10)
        elif p in ("mid", "middle of", "the middle of"):
            start, end = start + timedelta(days=9), start + timedelta(days=20)
        elif p in ("late", "the end of"):
            start = start + timedelta(days=20)
        out.append(Hit(start, end, m.span()))
    return out


def _relative(text: str, today: date) -> list[Hit]:
    out: list[Hit] = []
    monday = today - timedelta(days=today.weekday())
    first = today.replace(day=1)
    prev_first = (first - timedelta(days=1)).replace(day=1)
    fixed = {
        r"the\s+day\s+before\s+yesterday": (today - timedelta(days=2), today - timedelta(days=1)),
        r"yesterday": (today - timedelta(days=1), today),
        r"today|tonight|this\s+morning": (today, today + timedelta(days=1)),
        r"last\s+week(?!\s+of)": (monday - timedelta(days=7), monday),
        r"this\s+week": (monday, today + timedelta(days=1)),
        r"last\s+month": (prev_first, first),
        r"this\s+month": (first, today + timedelta(days=1)),
    }
    for pat, (a, b) in fixed.items():
        for m in re.finditer(rf"\b(?:{pat})\b", text, re.IGNORECASE):
            out.append(Hit(a, b, m.span()))
    ago = r"\b(?P<n>\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|(?:a\s+)?couple\s+of|(?:a\s+)?few)" \
        r"\s+(?P<unit>day|week|month)s?\s+ago\b"
    for m in re.finditer(ago, text, re.IGNORECASE):
        n, unit = count_of(m["n"]), m["unit"].lower()
        days, slack = {"day": (n, 1), "week": (7 * n, 3), "month": (30 * n, 10)}[unit]
        if m["n"].lower().endswith("few"):  # "a few days ago": anywhere from two to a week
            slack = max(slack, days // 2 + 1)
        centre = today - timedelta(days=days)
        out.append(Hit(centre - timedelta(days=slack), centre + timedelta(days=slack + 1), m.span()))
    return out


_WEEKDAYS = {d: i for i, d in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                         "sunday"))}
_WEEKDAY = re.compile(
    r"\b(?:(?P<mod>last|next|this\s+coming|coming|this)\s+)?(?P<wd>" + "|".join(_WEEKDAYS) + r")\b", re.IGNORECASE
)
_WEEKEND = re.compile(r"\b(?P<mod>this|last|next|over\s+the|at\s+the|on\s+the|the)\s+weekend\b", re.IGNORECASE)


def weekday_hits(text: str, today: date, both_ways: bool = False) -> list[Hit]:
    """"last sunday": the one before today; "next monday", "this coming monday": the one after; a bare
    weekday ("on sunday"): the latest one begun by today, or with ``both_ways`` (a turn, whose tense
    is not read) the one before and the one after."""
    out: list[Hit] = []
    for m in _WEEKDAY.finditer(text):
        back = (today.weekday() - _WEEKDAYS[m["wd"].lower()]) % 7
        after = -back % 7 or 7
        mod = re.sub(r"\s+", " ", (m["mod"] or "").lower())
        if mod == "last":
            days = [-(back or 7)]
        elif mod in ("next", "coming", "this coming"):
            days = [after]
        else:
            days = [-(back or 7), after] if both_ways else [-back]
        out.extend(Hit(today + timedelta(days=n), today + timedelta(days=n + 1), m.span()) for n in days)
    return out


def weekend_hits(text: str, today: date) -> list[Hit]:
    """"this weekend": the current or coming Saturday and Sunday; "next weekend": the coming one; "last
    weekend", "over the weekend", "the weekend": the latest begun by today ("last" on a weekend: the one before)."""
    out: list[Hit] = []
    begun = today - timedelta(days=(today.weekday() - 5) % 7)  # the latest Saturday up to today
    for m in _WEEKEND.finditer(text):
        mod = m["mod"].lower()
        if mod == "this":
            sat = today + timedelta(days=(5 - today.weekday()) % 7) if today.weekday() < 5 else begun
        elif mod == "next":
            sat = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
        else:
            sat = begun - timedelta(days=7) if mod == "last" and today.weekday() >= 5 else begun
        out.append(Hit(sat, sat + timedelta(days=2), m.span()))
    return out


_SHIFT = re.compile(
    r"\b(?:the\s+|a\s+)?(?P<unit>day|week|weekend|month|few\s+days)\s+(?P<dir>before|after|following)\s+$",
    re.IGNORECASE,
)
_AROUND = re.compile(r"\b(?:around|about|roughly|circa)\s+(?:the\s+)?$", re.IGNORECASE)


def shifted(text: str, hit: Hit) -> Hit:
    """Apply "the week before ..." / "around ..." written just before a date phrase."""
    before = text[: hit.span[0]]
    m = _SHIFT.search(before)
    if m is not None:
        n = {"day": 1, "week": 7, "weekend": 3, "month": 30, "few days": 4}[re.sub(r"\s+", " ", m["unit"].lower())]
        if m["dir"].lower() == "before":
            return Hit(hit.start - timedelta(days=n), hit.start, (m.start(), hit.span[1]))
        return Hit(hit.end, hit.end + timedelta(days=n), (m.start(), hit.span[1]))
    if _AROUND.search(before) and hit.end - hit.start <= timedelta(days=3):
        return Hit(hit.start - timedelta(days=3), hit.end + timedelta(days=3), hit.span)
    return hit


def time_windows(query: str, now: datetime | None = None) -> list[TimeWindow]:
    """The windows ``query`` names, in order of appearance; a phrase inside a longer one is dropped
    ("December 26th" in "the week before December 26th")."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    named = (*day_hits(query, today), *_months(query, today), *_relative(query, today), *weekday_hits(query, today),
             *weekend_hits(query, today))
    hits = [shifted(query, h) for h in named]
    hits.sort(key=lambda h: (h.span[0], -(h.span[1] - h.span[0])))
    out: list[TimeWindow] = []
    taken: list[tuple[int, int]] = []
    for h in hits:
        if any(a <= h.span[0] and h.span[1] <= b for a, b in taken):
            continue
        taken.append(h.span)
        out.append(TimeWindow(midnight(h.start), midnight(h.end), query[h.span[0] : h.span[1]].strip()))
    return out
