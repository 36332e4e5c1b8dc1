"""Duration types for every configuration model: finite, bounded seconds.

One shared annotated type instead of ``float = Field(gt=0)`` repeated in every config: ``gt=0`` lets
``inf``, ``1e300`` (sleep/timeout overflows) and ``1e-9`` (a busy loop that starves the event loop)
through, and each surfaced later as a traceback or a wedged daemon. A bad value is now refused when
the config loads, with the field named (exit 2).
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import AfterValidator, Field

MIN_SECONDS = 0.01
"""Shortest interval or timeout accepted: below it a loop spins rather than waits."""
MAX_SECONDS = 366 * 86400.0
"""Longest accepted (a year): beyond it a timer is a mistake, and huge values overflow timers."""


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError("expected a finite number of seconds")
    return v


Seconds = Annotated[float, AfterValidator(_finite), Field(ge=MIN_SECONDS, le=MAX_SECONDS)]
"""A duration or interval in seconds, 0.01 s to one year."""

SecondsOrZero = Annotated[float, AfterValidator(_finite), Field(ge=0, le=MAX_SECONDS)]
"""A duration in seconds where 0 means none (no wait, no grace), up to one year."""

Hours = Annotated[float, AfterValidator(_finite), Field(ge=MIN_SECONDS / 3600, le=MAX_SECONDS / 3600)]
"""A duration in hours, 0.01 s to one year."""
