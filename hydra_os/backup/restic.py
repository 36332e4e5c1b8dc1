"""Copying backups into a restic repository, and fetching one back, with the real ``restic`` binary.

The repository and its password reach restic through ``RESTIC_REPOSITORY`` and
``RESTIC_PASSWORD_FILE`` in its environment: never in argv (``/proc/<pid>/cmdline`` is readable by
every user) and never in a log line. A repository that does not exist yet is initialised on first use.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra_os.backup.errors import ResticError
from hydra_os.command import CommandError, CommandResult, run_command

TAG = "hydra-backup"


def restic_binary() -> str | None:
    return shutil.which("restic")


@dataclass(frozen=True)
class ResticRepo:
    repository: str
    password_file: Path
    timeout: float = 3600.0

    def _env(self) -> dict[str, str]:
        return {"RESTIC_REPOSITORY": self.repository, "RESTIC_PASSWORD_FILE": str(self.password_file)}

    async def _run(self, *args: str, cwd: Path | None = None, check: bool = True) -> CommandResult:
        binary = restic_binary()
        if binary is None:
            raise ResticError("restic is not on PATH; install it or unset backup.restic_repository")
        try:
            res = await run_command([binary, "--no-cache", *args], limit_s=self.timeout, env=self._env(), cwd=cwd)
        except CommandError as e:
            raise ResticError(f"restic {args[0]}: {e}") from None
        if check and not res.ok:
            raise ResticError(f"restic {args[0]} failed: {res.brief()}")
        return res

    async def ensure(self) -> None:
        """Initialise the repository unless it exists."""
        if not (await self._run("cat", "config", check=False)).ok:
            await self._run("init")

    async def add(self, archive: Path, node: str) -> str:
        """Store one archive (by its bare name, from its directory); returns the snapshot id."""
        await self.ensure()
        res = await self._run("backup", "--json", "--tag", TAG, "--host", node, archive.name, cwd=archive.parent)
        for line in res.stdout.splitlines():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and msg.get("message_type") == "summary":
                return str(msg.get("snapshot_id", ""))
        raise ResticError("restic backup finished without a summary; check the repository with 'restic check'")

    async def snapshots(self) -> list[dict[str, Any]]:
        res = await self._run("snapshots", "--json", "--tag", TAG)
        data = json.loads(res.stdout or "[]")
        return [s for s in data if isinstance(s, dict)] if isinstance(data, list) else []

    async def fetch(self, snapshot: str, into: Path) -> Path:
        """Restore the archive of ``snapshot`` into the directory ``into``; returns its path."""
        found = [s for s in await self.snapshots() if snapshot in (s.get("id"), s.get("short_id"))
                 or snapshot == "latest"]
        if not found:
            raise ResticError(f"no hydra backup snapshot {snapshot!r} in the restic repository")
        snap = found[-1]
        paths = [str(p) for p in snap.get("paths", [])]
        await self._run("restore", str(snap["id"]), "--target", str(into))
        names = [Path(p).name for p in paths]
        found_files = await asyncio.to_thread(lambda: list(into.rglob("hydra-backup-*.tar.zst")))
        hits = [p for p in found_files if p.name in names]
        if not hits:
            raise ResticError(f"restic snapshot {snapshot} holds no hydra backup archive")
        return hits[0]
