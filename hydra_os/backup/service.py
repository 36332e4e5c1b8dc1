"""The daemon side of backups: ``/v1/backups`` (list, now) and the ``backup.run`` task kind.

Every backup, asked over the API or by the nightly scheduled task, is a ``backup.run`` action through
the policy gate (the default policy makes it AUTONOMOUS: rule ``auto-backup``). The executor takes
the backup, copies it into restic when configured, prunes by retention and records the attempt
(:mod:`hydra_os.backup.status`). One backup runs at a time per node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field

from hydra_os.backup.catalog import list_backups, prune
from hydra_os.backup.errors import BackupError
from hydra_os.backup.restic import ResticRepo
from hydra_os.backup.status import read_status, record_attempt
from hydra_os.backup.take import take_backup
from hydra_os.component import NodeContext
from hydra_os.errors import HydraError
from hydra_os.lifecycle import Lifecycle
from hydra_os.policy.model import Action, BlastRadius, Gate, OutcomeStatus
from hydra_os.tasks.registry import KindSpec, TaskContext, TaskRegistry, specs_of
from memory.wiring import client_stack

BACKUP_KIND = "backup.run"


class BackupNow(BaseModel):
    """``POST /v1/backups``: take one backup now."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="asked by the owner", max_length=200, description="Kept in the policy receipt.")


class BackupService(Lifecycle):
    name = "backup"

    def __init__(self, ctx: NodeContext, gate: Gate) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.gate = gate
        self._lock = asyncio.Lock()
        gate.register_executor(BACKUP_KIND, self._execute)

    @property
    def dest(self) -> Path:
        return self.settings.backup.destination_for(self.settings.node.state_dir)

    def _details(self) -> dict[str, Any]:
        last = read_status(self.settings.node.state_dir)
        return {"destination": str(self.dest), "busy": self._lock.locked(),
                "last": last.model_dump() if last else None}

    def task_kinds(self) -> list[KindSpec]:
        return specs_of(self.register_kind)

    def register_kind(self, registry: TaskRegistry) -> None:
        registry.register(BACKUP_KIND, self._task, "take a backup of this node and the cluster state")

    async def _task(self, tctx: TaskContext) -> dict[str, Any]:
        return await self.run(str(tctx.params.get("reason", f"scheduled ({tctx.task.source})")))

    async def run(self, reason: str) -> dict[str, Any]:
        """One backup through the policy gate; returns the outcome (and the backup when it ran)."""
        node = self.settings.node.id
        action = Action(kind=BACKUP_KIND, target=f"node:{node}", params={"destination": str(self.dest)},
                        reversible=True, blast_radius=BlastRadius.NONE, summary=f"back up node {node} ({reason})")
        out = await self.gate.submit(action, self._execute)
        if out.status is OutcomeStatus.FAILED:
            raise BackupError(out.error or "the backup failed")
        return {"status": out.status.value, "decision": out.decision.model_dump(mode="json"),
                "approval_id": out.approval_id, "backup": out.result}

    async def _execute(self, _: Action) -> dict[str, Any]:
        cfg, state_dir = self.settings.backup, self.settings.node.state_dir
        async with self._lock:
            try:
                memory = await client_stack(self.ctx.bus, self.settings.memory)
                taken = await take_backup(self.settings, self.ctx.bus, memory)
                restic = None
                if cfg.restic_repository and cfg.restic_password_file:
                    repo = ResticRepo(cfg.restic_repository, cfg.restic_password_file, cfg.timeout)
                    restic = await repo.add(taken.path, self.settings.node.id)
                gone = await asyncio.to_thread(prune, self.dest, self.settings.node.id, cfg.keep_daily,
                                               cfg.keep_weekly, ZoneInfo(self.settings.owner.timezone))
            except HydraError as e:
                await asyncio.to_thread(record_attempt, state_dir, ok=False, max_age=cfg.max_age,
                                        error=str(e))
                logger.error("backup failed: {}", e)
                raise
            await asyncio.to_thread(record_attempt, state_dir, ok=True, max_age=cfg.max_age, name=taken.path.name,
                                    size=taken.archive_bytes, seconds=taken.seconds, restic=restic)
        return {"name": taken.path.name, "size": taken.archive_bytes, "seconds": round(taken.seconds, 3),
                "parts": len(taken.manifest.parts), "counts": taken.manifest.counts, "restic_snapshot": restic,
                "pruned": [p.name for p in gone]}

    def routes(self) -> Sequence[APIRouter]:
        deps = [Depends(self.ctx.auth)] if self.ctx.auth is not None else []
        router = APIRouter(prefix="/v1/backups", tags=["backups"], dependencies=deps)

        @router.get("", summary="The backups in this node's destination, oldest first")
        async def listing() -> dict[str, Any]:
            entries = await asyncio.to_thread(list_backups, self.dest)
            last = await asyncio.to_thread(read_status, self.settings.node.state_dir)
            return {"destination": str(self.dest), "backups": [e.as_dict() for e in entries],
                    "last": last.model_dump() if last else None}

        @router.post("", summary="Take one backup now (a backup.run action through the policy gate)")
        async def now(req: BackupNow | None = None) -> dict[str, Any]:
            return await self.run((req or BackupNow()).reason)

        return [router]
