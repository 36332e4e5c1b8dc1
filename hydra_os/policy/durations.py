"""Durations as the owner types them: ``2h``, ``30m``, ``1h30m``, ``45s``, ``1d``, or plain seconds."""

from __future__ import annotations

import re

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")


def parse_duration(text: str) -> float:
    """Seconds; raises ValueError naming what was expected."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", t):
        seconds = float(t)
    elif t and _PART.sub("", t) == "":
        seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(t))
    else:
        raise ValueError(f"expected a duration such as 2h, 30m, 1h30m or 90s, got {text!r}")
    if seconds <= 0:
        raise ValueError(f"expected a positive duration, got {text!r}")
    return seconds
