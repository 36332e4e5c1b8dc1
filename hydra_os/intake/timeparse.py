"""Deterministic time phrases in the owner's time zone.

Understood (case-insensitive, anywhere in the request):

- now: "now", "right now", "immediately", "asap"
- the off-peak window: "overnight", "tonight", "while I sleep", "when the GPUs are idle"
- relative: "in 2 hours", "in 30 minutes", "in an hour", "in half an hour", "in 3 days"
- a day and time: "tomorrow at 7", "tomorrow at 7:30pm", "at 9am", "at 21:15", "on Friday at 3pm",
  "tomorrow morning" (wake time), "tomorrow evening" (18:00), "tomorrow" (wake time), "on Monday"
- recurring: "every Monday at 9", "every day at 7", "daily at 6:30", "every weekday at 8",
  "every morning" (wake time), "every night" (overnight start), "every hour", "weekly on Friday"

Hours are read on the 24-hour clock unless "am"/"pm" is given, except after "this evening",
"tonight", "evening" or "night", where 1-11 read as pm. A bare "at 9" is the next 9:00. The
returned :class:`When` says in words what was chosen, so the reply can repeat it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

WhenKind = Literal["now", "at", "window", "recurring"]

_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_DAY_RE = r"(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|rsday|urday)?"
_CRON_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_NUM_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10,
              "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty-five": 45}
_TIME = r"(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?"


@dataclass(frozen=True)
class When:
    kind: WhenKind
    at: datetime | None = None  # for "at" and the start of "window"
    window: str | None = None  # "overnight"
    cron: dict[str, str] = field(default_factory=dict)  # APScheduler cron fields for "recurring"
    phrase: str = ""  # the text that matched, to strip from the request
    describe: str = "now"

    def __str__(self) -> str:
        return self.describe


def _day_index(token: str) -> int:
    token = token.lower()[:3]
    return [d[:3] for d in _DAYS].index(token)


def _hm(h: str, m: str | None, ampm: str | None, *, evening: bool = False) -> time:
    hour, minute = int(h), int(m or 0)
    suffix = (ampm or "").replace(".", "")
    if suffix == "pm" and hour < 12:
        hour += 12
    elif suffix == "am" and hour == 12:
        hour = 0
    elif not suffix and evening and hour < 12:
        hour += 12
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"{h}:{m or '00'} is not a time of day")
    return time(hour, minute)


def _looks_like_clock(rest: str) -> bool:
    """After a bare "at N": the end, punctuation, or a word that usually follows a time."""
    follows = r"(?:to|and|on|tomorrow|today|tonight|please|o'clock|sharp|every|in)\b"
    return bool(re.match(rf"\s*(?:$|[,.;!?)]|{follows})", rest))


def _parse_hhmm(s: str) -> time:
    h, m = s.split(":")
    return time(int(h), int(m))


# "tomorrow evening at 7", "on friday", "next monday morning", "at 9pm" (groups 1-7: a day word with
# an optional part of the day and clock time; 8-10: a bare clock time, not a quantity like "at 70%")
_DATED = re.compile(rf"\b(tomorrow|today|this evening|tonight|on {_DAY_RE}|next {_DAY_RE})"
                    rf"(?:\s+(morning|afternoon|evening|night))?(?:\s+at {_TIME})?\b"
                    rf"|\bat {_TIME}(?!\s*(?:%|gb|mb|tokens|degrees))\b")


def _day_of(day_word: str | None, now: datetime) -> datetime:
    """The day a day word names (``now`` itself for today, tonight or none)."""
    if day_word == "tomorrow":
        return now + timedelta(days=1)
    if day_word and day_word.startswith(("on ", "next ")):
        ahead = (_day_index(day_word.split()[1]) - now.weekday()) % 7 or 7
        return now + timedelta(days=ahead)
    return now


class TimeParser:
    def __init__(self, tz: str, wake_time: str = "07:00", overnight_start: str = "01:00") -> None:
        self.tz = ZoneInfo(tz)
        self.wake = _parse_hhmm(wake_time)
        self.overnight = _parse_hhmm(overnight_start)

    def _at(self, now: datetime, day: datetime, t: time) -> datetime:
        return datetime.combine(day.date(), t, tzinfo=self.tz)

    def _next_overnight(self, now: datetime) -> datetime:
        start = self._at(now, now, self.overnight)
        return start if start > now else start + timedelta(days=1)

    def parse(self, text: str, now: datetime | None = None) -> When | None:
        """The first time phrase in ``text``, or None when there is none."""
        now = (now or datetime.now(self.tz)).astimezone(self.tz)
        s = text.lower()
        for rule in (self._recurring, self._relative, self._window, self._dated, self._now):
            w = rule(s, now)
            if w is not None:
                return w
        return None

    def _now(self, s: str, now: datetime) -> When | None:
        m = re.search(r"\b(right now|(?<!from )now|immediately|asap)\b", s)
        return When("now", at=now, phrase=m.group(0), describe="now") if m else None

    def _window(self, s: str, now: datetime) -> When | None:
        m = re.search(r"\b(overnight|tonight|while i(?:'m| am)? (?:sleep|asleep|sleeping)"
                      r"|when the gpus? (?:is|are) (?:idle|free))\b(?!\s+at)", s)
        if not m:
            return None
        start = self._next_overnight(now)
        return When("window", at=start, window="overnight", phrase=m.group(0),
                    describe=f"in tonight's off-peak window (from {start:%H:%M %Z})")

    def _relative(self, s: str, now: datetime) -> When | None:
        m = re.search(r"\bin (half an hour|(\d+|an?|one|two|three|four|five|six|ten|twelve|fifteen|twenty|thirty|"
                      r"forty-five) (minute|min|hour|hr|day|week)s?)\b", s)
        if not m:
            return None
        if m.group(1) == "half an hour":
            delta = timedelta(minutes=30)
        else:
            n = int(m.group(2)) if m.group(2).isdigit() else _NUM_WORDS[m.group(2)]
            unit = m.group(3)
            delta = {"minute": timedelta(minutes=n), "min": timedelta(minutes=n), "hour": timedelta(hours=n),
                     "hr": timedelta(hours=n), "day": timedelta(days=n), "week": timedelta(weeks=n)}[unit]
        at = now + delta
        return When("at", at=at, phrase=m.group(0), describe=f"at {at:%a %H:%M %Z} ({m.group(0)})")

    def _dated(self, s: str, now: datetime) -> When | None:
        # scan all candidates, keep the first that names a day or a time
        for m in _DATED.finditer(s):
            at = self._dated_at(m, s, now)
            if at is not None:
                return When("at", at=at, phrase=m.group(0).strip(), describe=f"at {at:%a %d %b %H:%M %Z}")
        return None

    def _dated_at(self, m: re.Match[str], s: str, now: datetime) -> datetime | None:
        """The future moment one ``_DATED`` match names, or None when it names none."""
        day_word = m.group(1)
        part = m.group(4) if day_word else None
        h, mi, ap = (m.group(5), m.group(6), m.group(7)) if day_word else (m.group(8), m.group(9), m.group(10))
        if h is not None and not mi and not ap and not _looks_like_clock(s[m.end():]):
            return None  # "at 4 bits", "at 70 percent": a number, not a time
        t = self._time_of_day(day_word, part, (h, mi, ap))
        if t is None:
            return None
        at = self._at(now, _day_of(day_word, now), t)
        if day_word is None and at <= now:
            at += timedelta(days=1)  # "at 9" means the next 9 o'clock
        return at if at > now else None

    def _time_of_day(self, day_word: str | None, part: str | None,
                     clock: tuple[str | None, str | None, str | None]) -> time | None:
        """The time a dated phrase names: its clock time, else the part of the day's usual hour."""
        h, mi, ap = clock
        evening = bool(day_word in ("this evening", "tonight") or part in ("evening", "night"))
        if h is not None:
            try:
                return _hm(h, mi, ap, evening=evening)
            except ValueError:
                return None
        if part == "morning" or (day_word and part is None and day_word != "today"):
            return self.wake if day_word not in ("this evening", "tonight") else time(19, 0)
        if part == "afternoon":
            return time(14, 0)
        return time(19, 0) if evening else None

    def _recurring(self, s: str, now: datetime) -> When | None:
        s = re.sub(rf"\b(?:every|each) week on ({_DAY_RE})", r"every \1", s)
        m = re.search(rf"\b(?:every|each) ({_DAY_RE}|day|weekday|morning|night|evening|hour)"
                      rf"(?:\s+at {_TIME})?\b|\b(daily|weekly on {_DAY_RE}|hourly|nightly)(?:\s+at {_TIME})?\b", s)
        if not m:
            return None
        what = m.group(1) or m.group(6)
        h, mi, ap = (m.group(3), m.group(4), m.group(5)) if m.group(1) else (m.group(8), m.group(9), m.group(10))
        cron: dict[str, str] = {}
        if what in ("hour", "hourly"):
            cron = {"minute": "0"}
            return When("recurring", cron=cron, phrase=m.group(0), describe="every hour, on the hour")
        if what in ("night", "nightly"):
            t = _hm(h, mi, ap, evening=True) if h else self.overnight
            day_desc = "every night"
        elif what == "evening":
            t = _hm(h, mi, ap, evening=True) if h else time(19, 0)
            day_desc = "every evening"
        elif what == "morning":
            t = _hm(h, mi, ap) if h else self.wake
            day_desc = "every morning"
        else:
            t = _hm(h, mi, ap) if h else self.wake
            if what in ("day", "daily"):
                day_desc = "every day"
            elif what == "weekday":
                cron["day_of_week"] = "mon-fri"
                day_desc = "every weekday"
            else:
                day = what.split()[-1]
                idx = _day_index(day)
                cron["day_of_week"] = _CRON_DAYS[idx]
                day_desc = f"every {_DAYS[idx].capitalize()}"
        cron.update({"hour": str(t.hour), "minute": str(t.minute)})
        return When("recurring", cron=cron, phrase=m.group(0), describe=f"{day_desc} at {t:%H:%M} ({self.tz.key})")
