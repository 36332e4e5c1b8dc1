"""How the CLI prints a moment: one format for every table and message (``2025-01-31 22:00:05``)."""

from __future__ import annotations

from datetime import datetime, tzinfo


def when(ts: float | None, tz: tzinfo | None = None) -> str:
    """A Unix time in ``tz`` (default: this machine's local time), or ``-`` when there is none."""
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"
