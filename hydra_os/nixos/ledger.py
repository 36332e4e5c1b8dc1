"""Configuration revisions that failed their health gate, kept so they are not tried again.

A JSON file under the state dir, replaced atomically (a crash mid-write leaves the previous one).
A revision is the configuration's ``system.configurationRevision`` when it has one, else the
toplevel store path (the same configuration always builds to the same path).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pydantic import BaseModel, TypeAdapter


class FailedRevision(BaseModel):
    revision: str
    toplevel: str
    reason: str
    at: float


_LIST = TypeAdapter(list[FailedRevision])


class FailedRevisions:
    def __init__(self, path: Path) -> None:
        self.path = path

    def all(self) -> list[FailedRevision]:
        if not self.path.exists():
            return []
        return _LIST.validate_json(self.path.read_bytes())

    def find(self, revision: str, toplevel: str | None = None) -> FailedRevision | None:
        for f in self.all():
            if f.revision == revision or (toplevel is not None and f.toplevel == toplevel):
                return f
        return None

    def record(self, revision: str, toplevel: str, reason: str) -> FailedRevision:
        entry = FailedRevision(revision=revision, toplevel=toplevel, reason=reason, at=time.time())
        items = [f for f in self.all() if f.revision != revision] + [entry]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([i.model_dump() for i in items], indent=2))
        os.replace(tmp, self.path)
        return entry

    def forget(self, revision: str) -> bool:
        items = self.all()
        kept = [f for f in items if f.revision != revision]
        if len(kept) == len(items):
            return False
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([i.model_dump() for i in kept], indent=2))
        os.replace(tmp, self.path)
        return True
