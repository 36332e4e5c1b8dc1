"""The days a passage names, read against when it was said: "the disk arrived on the 23rd".

A question keyed by a date ("what happened on October 12th?") is answered by the passages said
that day (:mod:`memory.archival.when`, the time-window ranking) — and by the ones said later about
that day: "the scrub on sunday found errors", said on the Tuesday. Their words share nothing with
the question and they were not said in its window, so no ranking could find them. At write time
this module resolves the days a turn names against the time it was said, and the store keeps them
with the passage (payload ``named_days``); the time-window ranking then also searches the passages
that name a day inside the question's window.

Understood (reusing :mod:`memory.archival.when` where the phrase is the same as in a question):

- a day by month and day, an ISO date or a holiday ("January 12th", "Boxing Day"): without a year,
  the occurrence nearest to when it was said, past or future ("I start january 12th", said on
  December 26th, is the coming January);
- "yesterday", "the day before yesterday", "N days ago", "last night", "tomorrow", "the day after
  tomorrow"; shifts such as "the day after Boxing Day";
- a weekday: "last sunday" the one before, "next monday" / "this coming monday" the one after,
  and a bare "on sunday" both (the tense decides, and reading tense is left to a model);
- "this weekend" (the coming Saturday and Sunday, or the current ones), "last weekend" and "over
  the weekend" (the previous ones);
- a day of the month after a preposition ("on the 15th", "since the 3rd"): this month's, and the
  previous month's too while this month's is still to come.

Only short spans count (at most :data:`MAX_SPAN_DAYS` days): "last week", "in December" or
"Christmas" (three days) inside a turn is too vague to key a date question on — a plan "for
Christmas" would otherwise answer "what did I do on December 26th?" ahead of what was said that
day — and the day the turn was said is already its own time. No model, no ``dateparser`` (see
:mod:`memory.archival.when` for why).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from memory.archival.when import MONTH, Hit, count_of, day_hits, midnight, shifted, weekday_hits, weekend_hits

MAX_SPAN_DAYS = 2

_DAY_OF_MONTH = re.compile(
    rf"\b(?:on|since|till|until|by|from)\s+the\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)\b(?!\s+(?:of\s+)?{MONTH})",
    re.IGNORECASE,
)
_NEAR = re.compile(  # longest first, so "the day before yesterday" is not also "yesterday"
    r"\b(?:(?P<before>the\s+day\s+before\s+yesterday)|(?P<after>the\s+day\s+after\s+tomorrow)"
    r"|(?P<yesterday>yesterday|last\s+night)|(?P<tomorrow>tomorrow)"
    r"|(?P<n>\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|(?:a\s+)?couple\s+of)\s+days?\s+ago)\b",
    re.IGNORECASE,
)


def _days_of_month(text: str, today: date) -> list[Hit]:
    out: list[Hit] = []
    for m in _DAY_OF_MONTH.finditer(text):
        n = int(m["day"])
        prev_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
        for first in (today.replace(day=1), prev_month):
            try:
                d = first.replace(day=n)
            except ValueError:  # the 31st of a 30-day month
                continue
            out.append(Hit(d, d + timedelta(days=1), m.span()))
            if d <= today:
                break  # this month's has happened: it is the one meant
    return out


def _near(text: str, today: date) -> list[Hit]:
    """Days counted from the day it was said: "yesterday", "tomorrow", "three days ago" (exactly:
    a turn says what it means; a question's "three days ago" is widened in :mod:`when` instead)."""
    out: list[Hit] = []
    for m in _NEAR.finditer(text):
        shift = {"before": -2, "after": 2, "yesterday": -1, "tomorrow": 1}
        n = next((v for k, v in shift.items() if m[k]), None)
        d = today + timedelta(days=n if n is not None else -count_of(m["n"]))
        out.append(Hit(d, d + timedelta(days=1), m.span()))
    return out


def named_days(text: str, said_at: datetime) -> list[datetime]:
    """The days (UTC midnights, sorted) ``text`` names, read against ``said_at``; the day it was said
    itself is left out (the passage's own time already keys it)."""
    today = said_at.astimezone(UTC).date()
    hits = [
        *(shifted(text, h) for h in day_hits(text, today, nearest=True)),
        *weekday_hits(text, today, both_ways=True), *weekend_hits(text, today), *_days_of_month(text, today),
        *_near(text, today),
    ]
    out: set[date] = set()
    for h in hits:
        if h.end - h.start > timedelta(days=MAX_SPAN_DAYS) or h.start <= today < h.end:
            continue  # too vague to key a date on, or a span that holds the day it was said
        out.update(h.start + timedelta(days=k) for k in range((h.end - h.start).days))
    return [midnight(d) for d in sorted(out)]
