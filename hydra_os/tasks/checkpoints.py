"""Step checkpoints: a finished step's result under ``step.<task>.<step>`` in ``hydra_tasks``.

A redelivered task finds the results of the steps that finished before its worker died and skips
them (see :mod:`hydra_os.tasks.steps`). Results are JSON and at most ``MAX_CHECKPOINT_BYTES``; bigger
artefacts belong in a store (archival memory, files) with the checkpoint holding their reference.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import nats.js.errors
from pydantic import BaseModel

from hydra_os.tasks.errors import CheckpointError
from hydra_os.tasks.store import TaskStore

MAX_CHECKPOINT_BYTES = 512 * 1024
_STEP = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Checkpoint(BaseModel):
    step: str
    result: Any = None
    finished_at: float
    node: str | None = None
    attempt: int = 0


def check_step_name(name: str) -> str:
    if not _STEP.match(name):
        raise CheckpointError(f"step name {name!r}: expected 1-64 characters from A-Z, a-z, 0-9, '-' and '_'")
    return name


class CheckpointStore:
    """The checkpoints of one task."""

    def __init__(self, store: TaskStore, task_id: str, *, node: str | None = None, attempt: int = 0) -> None:
        self.store = store
        self.task_id = task_id
        self.node = node
        self.attempt = attempt

    def _key(self, step: str) -> str:
        return f"step.{self.task_id}.{check_step_name(step)}"

    async def get(self, step: str) -> Checkpoint | None:
        kv = await self.store.kv()
        try:
            entry = await self.store.call("reading a checkpoint", kv.get(self._key(step)))
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        return Checkpoint.model_validate_json(entry.value) if entry.value else None

    async def put(self, step: str, result: Any) -> Checkpoint:
        cp = Checkpoint(step=step, result=result, finished_at=time.time(), node=self.node, attempt=self.attempt)
        try:
            raw = cp.model_dump_json().encode()
            json.loads(raw)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"step {step!r} of task {self.task_id}: result is not JSON ({e})") from None
        if len(raw) > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(
                f"step {step!r} of task {self.task_id}: result is {len(raw)} bytes, at most "
                f"{MAX_CHECKPOINT_BYTES}; store large results elsewhere and checkpoint a reference"
            )
        kv = await self.store.kv()
        await self.store.call("storing a checkpoint", kv.put(self._key(step), raw))
        return cp

    async def all(self) -> dict[str, Checkpoint]:
        out = {}
        for _, value, _ in await self.store.scan(f"step.{self.task_id}"):
            cp = Checkpoint.model_validate_json(value)
            out[cp.step] = cp
        return out

    async def clear(self) -> int:
        """Forget every checkpoint (a retry from scratch); returns how many were removed."""
        kv = await self.store.kv()
        found = await self.all()
        for step in found:
            try:
                await self.store.call("clearing a checkpoint", kv.delete(self._key(step)))
            except nats.js.errors.KeyNotFoundError:
                pass
        return len(found)
