"""One delivery of one task on one worker: decide, take, run with heartbeats, store the outcome, ack.

Decision for a delivered message (the task record in ``hydra_tasks`` is the truth, the message only
a pointer):

- record finished, pending, or the message is from an older release -> ack and drop the message;
- another worker holds a live lease -> nak with delay until the lease would expire;
- not due yet -> nak with delay when due within ``short_defer_s``, else move to the pending set, ack;
- no handler here -> nak with a short delay if a live worker advertises the kind, else pending set;
- not enough free VRAM on this node -> nak with ``resource_recheck_s`` (another node may take it);
- else take it (compare-and-set: running, attempts+1, lease), run, heartbeat (``in_progress`` + lease
  renewal) every ``ack_wait/3``; store the result, *then* ack. A failure naks with exponential backoff
  until ``max_failures``, then the task is failed with its error kept and the message acked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loguru import logger
from nats.aio.msg import Msg

from hydra_os.errors import HydraError
from hydra_os.tasks.checkpoints import CheckpointStore
from hydra_os.tasks.errors import PermanentTaskError, TaskNotFoundError
from hydra_os.tasks.model import Task
from hydra_os.tasks.registry import KindSpec, TaskContext
from hydra_os.tasks.store import Conflict, Skip

if TYPE_CHECKING:
    from hydra_os.tasks.worker import TaskWorker

MAX_RESULT_BYTES = 256 * 1024


@dataclass
class Running:
    task_id: str
    vram_mb: int
    started_at: float
    handler: asyncio.Task[Any] | None = None


async def _settle(msg: Msg, how: str, delay: float | None = None) -> None:
    """ack / nak / term a message; a message already settled, or a dropped connection, is not an error."""
    with contextlib.suppress(Exception):
        if how == "ack":
            await msg.ack()
        elif how == "term":
            await msg.term()
        else:
            await msg.nak(delay=delay if delay and delay > 0 else None)


class Execution:
    def __init__(self, worker: TaskWorker, msg: Msg) -> None:
        self.w = worker
        self.msg = msg
        self.node = worker.node_id
        self.delivery = msg.metadata.num_delivered if msg.reply else 1
        self.current: Task | None = None  # the record as we last wrote it, and its revision
        self.rev = 0

    async def _change(self, task_id: str, change: Callable[[Task], None]) -> None:
        """Apply ``change`` to the record: first on the version we wrote last (one round trip), and
        only when someone else changed it meanwhile (a cancel) by reading it again."""
        if self.current is not None:
            draft = self.current.model_copy(deep=True)
            try:
                change(draft)
            except Skip:
                return
            try:
                self.rev = await self.w.store.put_if(draft, self.rev)
                self.current = draft
                return
            except Conflict:
                pass
        self.current, self.rev = await self.w.store.mutate(task_id, change)

    async def run(self) -> str:
        """Handle the message; returns what happened (for stats and tests)."""
        try:
            body = json.loads(self.msg.data)
            task_id, release = str(body["id"]), int(body.get("release", 0))
        except (ValueError, KeyError, TypeError):
            logger.warning("dropping a malformed task message on {}", self.msg.subject)
            await _settle(self.msg, "term")
            return "malformed"
        for _ in range(20):
            try:
                task, rev = await self.w.store.get(task_id)
            except TaskNotFoundError:
                logger.warning("dropping message for unknown task {}", task_id)
                await _settle(self.msg, "term")
                return "orphan"
            verdict = await self._decide(task, rev, release)
            if verdict != "conflict":
                return verdict
        await _settle(self.msg, "nak", 0.5)
        return "contended"

    async def _decide(self, task: Task, rev: int, release: int) -> str:
        w, now = self.w, time.time()
        if task.terminal or task.state == "pending" or release < task.release:
            await _settle(self.msg, "ack")
            return "dropped"
        if task.state == "running" and task.lease_until and task.lease_until > now:
            await _settle(self.msg, "nak", task.lease_until - now + 0.5)
            return "leased"
        due = w.windows.eligible_at(task, now)
        if due > now:
            if due - now <= w.config.short_defer_s:
                await _settle(self.msg, "nak", due - now)
                return "early"
            return await self._to_pending(task, rev, due, task.wait_reason or "not due yet", "deferred")
        spec = w.registry.get(task.kind) if task.kind in w.registry else None
        if spec is None:
            if await w.kind_elsewhere(task.kind):
                await _settle(self.msg, "nak", 0.5)
                return "elsewhere"
            return await self._to_pending(
                task, rev, now + w.config.unknown_kind_recheck_s,
                f"no live worker handles kind {task.kind}", "no-handler")
        if task.gpu_vram_mb and not w.has_vram(task.gpu_vram_mb):
            reason = (f"waiting for {task.gpu_vram_mb} MB VRAM (most free on any node: "
                      f"{w.resources.cluster_max_free_vram() if w.resources else 0} MB)")
            if task.wait_reason != reason:
                task.wait_reason = reason
                task.note("waiting", self.node, reason)
                with contextlib.suppress(Conflict):
                    await w.store.put_if(task, rev)
            await _settle(self.msg, "nak", w.config.resource_recheck_s)
            return "no-vram"
        return await self._take(task, rev, spec)

    async def _to_pending(self, task: Task, rev: int, at: float, reason: str, verdict: str) -> str:
        await self.w.store.set_pending(task.id, at)
        task.state, task.eligible_at = "pending", at
        if task.wait_reason != reason:
            task.note("pending", self.node, reason)
        task.wait_reason = reason
        try:
            await self.w.store.put_if(task, rev)
        except Conflict:
            return "conflict"
        await _settle(self.msg, "ack")
        return verdict

    async def _take(self, task: Task, rev: int, spec: KindSpec) -> str:
        w, now = self.w, time.time()
        task.state, task.worker, task.started_at = "running", self.node, now
        task.attempts += 1
        task.lease_until = now + w.config.ack_wait_s
        task.wait_reason = task.eligible_at = None
        task.note("started", self.node, f"attempt {task.attempts}, delivery {self.delivery}")
        try:
            rev = await w.store.put_if(task, rev)
        except Conflict:
            return "conflict"
        self.current, self.rev = task.model_copy(deep=True), rev
        return await self._execute(task, rev, spec)

    async def _execute(self, task: Task, rev: int, spec: KindSpec) -> str:
        w = self.w
        slot = Running(task.id, task.gpu_vram_mb, time.time())
        w.running[task.id] = slot
        state = {"cancelled": False}

        async def heartbeat() -> None:
            await _settle_progress(self.msg)

        async def note(line: str) -> None:
            def change(t: Task) -> None:
                t.note("progress", self.node, line)
            await self._change(task.id, change)

        ctx = TaskContext(
            task=task, node_id=self.node, delivery=self.delivery, heartbeat=heartbeat, note=note,
            checkpoints=CheckpointStore(w.store, task.id, node=self.node, attempt=task.attempts),
            services=w.services,
        )
        async def call() -> Any:
            return await spec.handler(ctx)

        slot.handler = asyncio.create_task(call(), name=f"task-{task.id}")
        try:
            while True:
                done, _ = await asyncio.wait({slot.handler}, timeout=w.config.heartbeat_s)
                if done:
                    break
                await _settle_progress(self.msg)
                if await self._renew_lease(task.id):
                    state["cancelled"] = True
                    slot.handler.cancel()
        except asyncio.CancelledError:
            # the worker is stopping: hand the task back so another worker resumes it
            slot.handler.cancel()
            with contextlib.suppress(BaseException):
                await slot.handler
            await self._hand_back(task.id)
            raise
        finally:
            w.running.pop(task.id, None)
        return await self._record(task.id, slot.handler, spec, bool(state["cancelled"]))

    async def _renew_lease(self, task_id: str) -> bool:
        """Extend our lease; True when the owner cancelled the task meanwhile."""
        cancelled = False

        def change(t: Task) -> None:
            nonlocal cancelled
            if t.state == "cancelled":
                cancelled = True
                raise Skip
            if t.state != "running" or t.worker != self.node:
                raise Skip
            t.lease_until = time.time() + self.w.config.ack_wait_s

        try:
            await self._change(task_id, change)
        except HydraError as e:
            logger.warning("renewing the lease of task {} failed: {}", task_id, e)
        return cancelled

    async def _hand_back(self, task_id: str) -> None:
        def change(t: Task) -> None:
            if t.state != "running" or t.worker != self.node:
                raise Skip
            t.state, t.lease_until, t.worker = "queued", None, None
            t.note("interrupted", self.node, "worker stopping; another worker resumes it")

        with contextlib.suppress(Exception):
            await asyncio.shield(self.w.store.mutate(task_id, change))
        await _settle(self.msg, "nak")

    async def _record(self, task_id: str, handler: asyncio.Task[Any], spec: KindSpec, cancelled: bool) -> str:
        w = self.w
        error: BaseException | None = None
        result: Any = None
        if handler.cancelled():
            error = None
        elif (exc := handler.exception()) is not None:
            error = exc
        else:
            result = handler.result()
            try:
                size = len(json.dumps(result))
                if size > MAX_RESULT_BYTES:
                    error = PermanentTaskError(
                        f"result is {size} bytes, at most {MAX_RESULT_BYTES}; "
                        "store it elsewhere and return a reference")
            except (TypeError, ValueError) as e:
                error = PermanentTaskError(f"result is not JSON: {e}")
        outcome = {"v": "succeeded"}

        def change(t: Task) -> None:
            now = time.time()
            t.lease_until = None
            if t.state == "cancelled" or cancelled or handler.cancelled():
                outcome["v"] = "cancelled"
                if t.state != "cancelled":
                    t.state, t.finished_at = "cancelled", now
                t.note("stopped", self.node, "cancelled while running")
                return
            if error is None:
                t.state, t.result, t.finished_at, t.error = "succeeded", result, now, None
                t.note("succeeded", self.node, f"in {now - (t.started_at or now):.2f}s")
                return
            t.failures += 1
            t.error = f"{type(error).__name__}: {error}"[:4000]
            limit = t.max_failures or w.config.max_failures
            if isinstance(error, PermanentTaskError) or t.failures >= limit:
                t.state, t.finished_at = "failed", now
                t.note("failed", self.node, t.error)
                outcome["v"] = "failed"
            else:
                delay = backoff(t.failures, w.config.backoff_base_s, w.config.backoff_max_s)
                t.state = "retrying"
                t.note("retrying", self.node, f"{t.error}; retry {t.failures + 1} of {limit} in {delay:.1f}s")
                outcome["v"], outcome["delay"] = "retrying", delay  # type: ignore[assignment]

        await self._change(task_id, change)
        if error is not None and outcome["v"] != "retrying":
            logger.info("task {} ({}) failed: {}", task_id, spec.kind, error)
        if outcome["v"] == "retrying":
            await _settle(self.msg, "nak", float(outcome["delay"]))
        else:
            await _settle(self.msg, "ack")
        return outcome["v"]


async def _settle_progress(msg: Msg) -> None:
    with contextlib.suppress(Exception):
        await msg.in_progress()


def backoff(failures: int, base: float, cap: float, jitter: Callable[[], float] = random.random) -> float:
    """``base * 2^(failures-1)``, at most ``cap``, with up to 10% jitter."""
    d = min(cap, base * float(2 ** max(0, failures - 1)))
    return float(d * (0.9 + 0.2 * jitter()))
