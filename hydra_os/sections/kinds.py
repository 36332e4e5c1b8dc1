"""The grammar of a task kind (``research.topic``), shared by the task model and the scheduler's
``[[tasks.scheduler.jobs]]`` schema, which may not import the task package (this package is a leaf)."""

from __future__ import annotations

import re

_KIND = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}(\.[a-z0-9][a-z0-9_-]{0,40}){0,4}$")


def kind_problem(kind: str) -> str | None:
    """What is wrong with ``kind`` (the message names the field and what was expected), or None."""
    if _KIND.match(kind):
        return None
    return f"kind: got {kind!r}, expected dot-separated lowercase words such as 'research.topic'"
