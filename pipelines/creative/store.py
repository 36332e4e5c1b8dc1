"""Projects on disk: ``<root>/<project>/project.json`` (the current state, replaced atomically) and
``<root>/<project>/history.jsonl`` (one line per revision: what changed and its new value, append-only).

Every change goes through :meth:`ProjectStore.mutate`: the change is applied to a copy, the whole
project is validated again (so a scene cannot name a missing character), the revision is bumped, the
file is replaced with ``memory.core.atomic.atomic_write`` (a crash leaves the old or the new file,
never a torn one) and the history line is appended and fsynced. One lock per store serialises
writers in this process; the daemon is the only writer of its state dir.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from memory.core.atomic import atomic_write, remove_stale_tmp
from pipelines.creative.errors import CreativeConflictError, CreativeNotFoundError
from pipelines.creative.model import ID_PATTERN, Project, utcnow

PROJECT_FILE = "project.json"
HISTORY_FILE = "history.jsonl"


class Revision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revision: int
    at: datetime
    op: str
    target: str
    value: Any = None


def _check_id(project_id: str) -> None:
    if not re.match(ID_PATTERN, project_id):
        raise CreativeNotFoundError(f"no creative project {project_id!r} (ids are lower-case identifiers)")


class ProjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = asyncio.Lock()

    def dir(self, project_id: str) -> Path:
        _check_id(project_id)
        return self.root / project_id

    def _load(self, project_id: str) -> Project:
        path = self.dir(project_id) / PROJECT_FILE
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise CreativeNotFoundError(f"no creative project {project_id!r}") from None
        return Project.model_validate_json(raw)

    async def get(self, project_id: str) -> Project:
        return await asyncio.to_thread(self._load, project_id)

    def _list(self) -> list[Project]:
        if not self.root.is_dir():
            return []
        return [self._load(p.name) for p in sorted(self.root.iterdir()) if (p / PROJECT_FILE).is_file()]

    async def projects(self) -> list[Project]:
        return await asyncio.to_thread(self._list)

    def _write(self, project: Project, rev: Revision) -> None:
        d = self.dir(project.id)
        d.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(d)
        atomic_write(d / PROJECT_FILE, project.model_dump_json(indent=1).encode())
        line = rev.model_dump_json().encode() + b"\n"
        fd = os.open(d / HISTORY_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    async def create(self, project: Project) -> Project:
        async with self._lock:
            if (self.dir(project.id) / PROJECT_FILE).exists():
                raise CreativeConflictError(f"creative project {project.id!r} exists already")
            project = project.model_copy(update={"revision": 1, "updated": utcnow()})
            rev = Revision(revision=1, at=project.updated, op="create", target=f"project:{project.id}",
                           value=project.model_dump(mode="json", include={"title", "description", "style"}))
            await asyncio.to_thread(self._write, project, rev)
            return project

    async def mutate(self, project_id: str, op: str, target: str,
                     change: Callable[[Project], Any]) -> tuple[Project, Project]:
        """Apply ``change`` (it edits the copy it is given and returns the value to keep in the history)
        and store the result. Returns (before, after). A change that breaks the project is refused."""
        async with self._lock:
            before = await self.get(project_id)
            work = before.model_copy(deep=True)
            value = change(work)
            try:
                after = Project.model_validate(work.model_dump() | {"revision": before.revision + 1,
                                                                    "updated": utcnow()})
            except ValidationError as e:
                err = e.errors()[0]
                where = ".".join(str(p) for p in err["loc"])
                raise CreativeConflictError(f"{target}: {err['msg']}" + (f" ({where})" if where else "")) from None
            rev = Revision(revision=after.revision, at=after.updated, op=op, target=target,
                           value=value.model_dump(mode="json") if isinstance(value, BaseModel) else value)
            await asyncio.to_thread(self._write, after, rev)
            return before, after

    def _history(self, project_id: str) -> list[Revision]:
        path = self.dir(project_id) / HISTORY_FILE
        if not path.exists():
            self._load(project_id)  # raises not found
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(Revision.model_validate(json.loads(line)))
            except (ValueError, ValidationError):
                continue  # a torn last line after power loss: the file itself is intact
        return out

    async def history(self, project_id: str) -> list[Revision]:
        return await asyncio.to_thread(self._history, project_id)
