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


class Rollback(BaseModel):
    at: float
    from_system: str
    to_system: str | None
    because: str
    ok: bool
    detail: str = ""


_ROLLBACKS = TypeAdapter(list[Rollback])


class Rollbacks:
    """Automatic rollbacks (newest last, the last ``keep``), for ``hydra nixos status`` and the briefing."""

    def __init__(self, path: Path, keep: int = 100) -> None:
        self.path = path
        self.keep = keep

    def all(self) -> list[Rollback]:
        if not self.path.exists():
            return []
        return _ROLLBACKS.validate_json(self.path.read_bytes())

    def record(self, from_system: str, to_system: str | None, because: str, *, ok: bool,
               detail: str = "") -> Rollback:
        entry = Rollback(at=time.time(), from_system=from_system, to_system=to_system, because=because, ok=ok,
                         detail=detail[:500])
        items = [*self.all(), entry][-self.keep:]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([i.model_dump() for i in items], indent=2))
        os.replace(tmp, self.path)
        return entry
