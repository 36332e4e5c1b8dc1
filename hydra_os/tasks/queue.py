"""The task queue: enqueue (idempotent), look up, cancel, retry, and release due pending tasks.

Enqueue protocol (every step is safe to crash after):

1. ``idem.<hash(key)>`` is created (fails if the key exists -> the first task is returned, however
   old: this record outlives JetStream's dedup window).
2. A pending mark ``pend.<id>`` is written (due now + ``enqueue_grace_s``, or when the task becomes
   eligible), then the task record ``task.<id>``.
3. A task eligible now (or within ``short_defer_s``) is published on ``hydra.tasks.p<prio>.<kind>``
   with ``Nats-Msg-Id`` = the idempotency key, and its pending mark is removed.

If the enqueuer dies between 2 and 3, a worker's release loop finds the mark once it is due and
publishes the task (same message id, so JetStream drops a second copy within its window; workers drop
messages of tasks that are already running or finished after it).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import nats.errors
import nats.js.errors
from pydantic import BaseModel

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.bus.patience import patiently
from hydra_os.errors import BusError
from hydra_os.sections.tasks import TasksConfig
from hydra_os.tasks.checkpoints import CheckpointStore
from hydra_os.tasks.errors import TaskNotFoundError, TaskStateError
from hydra_os.tasks.model import ACTIVE, Task, TaskSpec
from hydra_os.tasks.store import Conflict, Skip, TaskStore
from hydra_os.tasks.windows import Windows


class EnqueueResult(BaseModel):
    task: Task
    created: bool
    """False: a task with this idempotency key already existed and is returned instead."""


def _when(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M %Z")


class TaskQueue:
    def __init__(self, bus: Bus, config: TasksConfig, windows: Windows, *, actor: str) -> None:
        self.bus = bus
        self.config = config
        self.windows = windows
        self.actor = actor
        self.store = TaskStore(bus)
        self.tz = ZoneInfo(windows.owner.timezone)

    # ---- publishing -------------------------------------------------------------------------
    async def publish(self, task: Task) -> bool:
        """Put the task's current release on the stream; False when JetStream saw this message id already."""
        payload = json.dumps({"id": task.id, "kind": task.kind, "release": task.release}).encode()
        try:
            ack = await self.bus.js.publish(
                names.task_queue_subject(task.priority, task.kind), payload,
                headers={"Nats-Msg-Id": task.message_id()},
            )
        except (nats.errors.Error, TimeoutError, nats.js.errors.Error) as e:
            raise BusError(f"publishing task {task.id} on {names.TASKS_STREAM}: {e or type(e).__name__}") from None
        return not ack.duplicate

    def _defer(self, task: Task, due: float, now: float) -> bool:
        """Mark ``task`` pending when it is not due within ``short_defer_s``; True if it was."""
        if due <= now + self.config.short_defer_s:
            return False
        task.state = "pending"
        task.eligible_at = due
        why = f"window {task.window} opens" if task.window and due > (task.not_before or 0) else "not before"
        task.wait_reason = f"{why} {_when(due, self.tz)}"
        return True

    # ---- enqueue -----------------------------------------------------------------------------
    async def enqueue(self, spec: TaskSpec) -> EnqueueResult:
        """Store (and publish, when due) a new task.

        A busy machine can starve nats-server past ``bus.request_timeout`` (2 s): the writes are then
        retried together for up to ``tasks.enqueue_patience_s``, so an owner's request is slower, not
        failed. Every step is idempotent for this task's id and key, so a write that landed although its
        answer came too late is found again on the retry, never repeated (one task, not two)."""
        task = Task.from_spec(spec)
        now = time.time()
        deferred = self._defer(task, self.windows.eligible_at(task, now), now)
        task.note("queued", self.actor, f"by {task.source}" + (f"; pending: {task.wait_reason}" if deferred else ""))
        return await patiently(lambda: self._store_new(task, deferred, now), self.config.enqueue_patience_s,
                               f"task {task.id}: enqueue")

    async def _store_new(self, task: Task, deferred: bool, now: float) -> EnqueueResult:
        holder = await self.store.claim_idempotency(task.idempotency_key, task.id)
        ours = holder is None or holder == task.id  # holder == our id: an earlier try of this enqueue claimed it
        if not ours:
            assert holder is not None
            try:
                existing, _ = await self.store.get(holder)
                return EnqueueResult(task=existing, created=False)
            except TaskNotFoundError:
                task.id = holder  # an earlier enqueue with this key died before storing its task: finish it
        await self.store.set_pending(task.id, (task.eligible_at or now) if deferred
                                     else now + self.config.enqueue_grace_s)
        try:
            await self.store.create(task)
        except Conflict:
            if not ours:
                existing, _ = await self.store.get(task.id)
                return EnqueueResult(task=existing, created=False)
            # our earlier try stored it: go on (publishing again is dropped by the message id)
        if not deferred:
            await self.publish(task)
            await self.store.clear_pending(task.id)
        return EnqueueResult(task=task, created=True)

    # ---- owner operations -----------------------------------------------------------------------
    async def get(self, task_id: str) -> Task:
        return (await self.store.get(task_id))[0]

    async def list_tasks(self, include_finished: bool = False) -> list[Task]:
        tasks = await self.store.all_tasks()
        if not include_finished:
            tasks = [t for t in tasks if t.state in ACTIVE]
        order = {"running": 0, "retrying": 1, "queued": 2, "pending": 3}
        return sorted(tasks, key=lambda t: (order.get(t.state, 4), -t.priority, -t.created_at if t.terminal
                                            else t.created_at))

    async def cancel(self, task_id: str, reason: str = "cancelled by the owner") -> Task:
        def change(t: Task) -> None:
            if t.terminal:
                raise TaskStateError(f"task {t.id} is already {t.state}; nothing to cancel")
            t.state = "cancelled"
            t.finished_at = time.time()
            t.note("cancelled", self.actor, reason)

        task, _ = await self.store.mutate(task_id, change)
        await self.store.clear_pending(task_id)
        return task

    async def retry(self, task_id: str, *, fresh: bool = False) -> Task:
        """Queue a failed or cancelled task again (attempt count reset); ``fresh`` drops its checkpoints."""
        task, _ = await self.store.get(task_id)
        if task.state not in ("failed", "cancelled"):
            raise TaskStateError(f"task {task_id} is {task.state}; only failed or cancelled tasks can be retried")
        if fresh:
            await CheckpointStore(self.store, task_id).clear()
        await self.store.set_pending(task_id, time.time() + self.config.enqueue_grace_s)
        now = time.time()

        def change(t: Task) -> None:
            if t.state not in ("failed", "cancelled"):
                raise TaskStateError(f"task {t.id} is {t.state}; only failed or cancelled tasks can be retried")
            t.state, t.failures, t.error, t.finished_at, t.result = "queued", 0, None, None, None
            t.release += 1
            t.eligible_at = t.wait_reason = None
            deferred = self._defer(t, self.windows.eligible_at(t, now), now)
            t.note("retry", self.actor, ("from scratch" if fresh else "resuming after its last finished step")
                   + (f"; pending: {t.wait_reason}" if deferred else ""))

        task, _ = await self.store.mutate(task_id, change)
        if task.state == "pending":
            await self.store.set_pending(task_id, task.eligible_at or now)
        else:
            await self.publish(task)
            await self.store.clear_pending(task_id)
        return task

    # ---- the pending set -----------------------------------------------------------------------
    async def release_due(self, now: float | None = None) -> int:
        """Publish pending tasks that are due (and finish enqueues that died half-way). Returns how many."""
        now = time.time() if now is None else now
        released = 0
        for task_id, at in await self.store.pending():
            if at > now:
                break
            try:
                released += await self._release_one(task_id, now)
            except TaskNotFoundError:
                await self.store.clear_pending(task_id)
        return released

    async def _release_one(self, task_id: str, now: float) -> int:
        task, _ = await self.store.get(task_id)
        if task.state == "pending":
            due = self.windows.eligible_at(task, now)

            def change(t: Task) -> None:
                if t.state != "pending":
                    raise Skip
                if self._defer(t, due, now):
                    raise Skip
                t.state, t.eligible_at, t.wait_reason = "queued", None, None
                t.release += 1
                t.note("released", self.actor, "due now")

            task, _ = await self.store.mutate(task_id, change)
            if task.state == "pending":
                await self.store.set_pending(task_id, task.eligible_at or due)
                return 0
        if task.state in ("queued", "retrying"):
            await self.publish(task)
            await self.store.clear_pending(task_id)
            return 1
        await self.store.clear_pending(task_id)
        return 0

    async def pending_in_window(self, window: str) -> list[Task]:
        return [t for t in await self.store.all_tasks() if t.window == window and t.state in ACTIVE]
