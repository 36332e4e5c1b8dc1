"""One delivery of one task on one worker: decide, take, run with heartbeats, store the outcome, ack.

Decision for a delivered message (the task record in ``hydra_tasks`` is the truth, the message only
a pointer), made by the pure :func:`hydra_os.tasks.verdict.decide`:

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
import dataclasses
import json
import random
import time
from collections.abc import Callable
from typing import Any, Protocol

from loguru import logger
from nats.aio.msg import Msg

from hydra_os.errors import HydraError
from hydra_os.sections.tasks import TasksConfig
from hydra_os.tasks.checkpoints import CheckpointStore
from hydra_os.tasks.errors import PermanentTaskError, TaskNotFoundError
from hydra_os.tasks.model import Task
from hydra_os.tasks.registry import KindSpec, TaskContext, TaskRegistry
from hydra_os.tasks.resources import ResourceView
from hydra_os.tasks.store import Conflict, Skip, TaskStore
from hydra_os.tasks.verdict import Delivered, Verdict, decide, finish
from hydra_os.tasks.windows import Windows

MAX_RESULT_BYTES = 256 * 1024


@dataclasses.dataclass
class Running:
    task_id: str
    vram_mb: int
    started_at: float
    handler: asyncio.Task[Any] | None = None


class Worker(Protocol):
    """What an execution needs from its worker (:class:`hydra_os.tasks.worker.TaskWorker`); a Protocol,
    so this module does not import the worker that imports it."""

    node_id: str
    store: TaskStore
    config: TasksConfig
    windows: Windows
    registry: TaskRegistry
    resources: ResourceView | None
    services: dict[str, Any]
    running: dict[str, Running]

    def has_vram(self, need_mb: int) -> bool: ...

    async def kind_elsewhere(self, kind: str) -> bool: ...


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
    def __init__(self, worker: Worker, msg: Msg) -> None:
        self.worker = worker
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
                self.rev = await self.worker.store.put_if(draft, self.rev)
                self.current = draft
                return
            except Conflict:
                pass
        self.current, self.rev = await self.worker.store.mutate(task_id, change)

    async def run(self) -> Verdict:
        """Handle the message; returns what happened (for stats and tests)."""
        try:
            body = json.loads(self.msg.data)
            task_id, release = str(body["id"]), int(body.get("release", 0))
        except (ValueError, KeyError, TypeError):
            logger.warning("dropping a malformed task message on {}", self.msg.subject)
            await _settle(self.msg, "term")
            return Verdict.MALFORMED
        for _ in range(20):
            try:
                task, rev = await self.worker.store.get(task_id)
            except TaskNotFoundError:
                logger.warning("dropping message for unknown task {}", task_id)
                await _settle(self.msg, "term")
                return Verdict.ORPHAN
            verdict = await self._decide(task, rev, release)
            if verdict is not Verdict.CONFLICT:
                return verdict
        await _settle(self.msg, "nak", 0.5)
        return Verdict.CONTENDED

    async def _decide(self, task: Task, rev: int, release: int) -> Verdict:
        w, now = self.worker, time.time()
        spec = w.registry.get(task.kind) if task.kind in w.registry else None
        known = Delivered(
            now=now, state=task.state, terminal=task.terminal, record_release=task.release,
            message_release=release, lease_until=task.lease_until, due=w.windows.eligible_at(task, now),
            short_defer_s=w.config.short_defer_s, handler_here=spec is not None, handler_elsewhere=False,
            vram_mb=task.gpu_vram_mb, vram_free_here=not task.gpu_vram_mb or w.has_vram(task.gpu_vram_mb),
        )
        verdict = decide(known)
        if verdict is Verdict.NO_HANDLER:  # the bus is asked only when its answer can change the verdict
            known = dataclasses.replace(known, handler_elsewhere=await w.kind_elsewhere(task.kind))
            verdict = decide(known)
        return await self._carry_out(verdict, known, task, rev, spec)

    async def _carry_out(self, verdict: Verdict, known: Delivered, task: Task, rev: int,
                         spec: KindSpec | None) -> Verdict:
        """Settle the message (and the record) the way ``verdict`` says; TAKE runs the task."""
        w, now = self.worker, known.now
        if verdict is Verdict.DROPPED:
            await _settle(self.msg, "ack")
        elif verdict is Verdict.LEASED:
            await _settle(self.msg, "nak", (task.lease_until or now) - now + 0.5)
        elif verdict is Verdict.EARLY:
            await _settle(self.msg, "nak", known.due - now)
        elif verdict is Verdict.DEFERRED:
            return await self._to_pending(task, rev, known.due, task.wait_reason or "not due yet", verdict)
        elif verdict is Verdict.ELSEWHERE:
            await _settle(self.msg, "nak", 0.5)
        elif verdict is Verdict.NO_HANDLER:
            return await self._to_pending(task, rev, now + w.config.unknown_kind_recheck_s,
                                          f"no live worker handles kind {task.kind}", verdict)
        elif verdict is Verdict.NO_VRAM:
            await self._wait_for_vram(task, rev)
        else:
            assert verdict is Verdict.TAKE and spec is not None
            return await self._take(task, rev, spec)
        return verdict

    async def _wait_for_vram(self, task: Task, rev: int) -> None:
        w = self.worker
        reason = (f"waiting for {task.gpu_vram_mb} MB VRAM (most free on any node: "
                  f"{w.resources.cluster_max_free_vram() if w.resources else 0} MB)")
        if task.wait_reason != reason:
            task.wait_reason = reason
            task.note("waiting", self.node, reason)
            with contextlib.suppress(Conflict):
                await w.store.put_if(task, rev)
        await _settle(self.msg, "nak", w.config.resource_recheck_s)

    async def _to_pending(self, task: Task, rev: int, at: float, reason: str, verdict: Verdict) -> Verdict:
        await self.worker.store.set_pending(task.id, at)
        task.state, task.eligible_at = "pending", at
        if task.wait_reason != reason:
            task.note("pending", self.node, reason)
        task.wait_reason = reason
        try:
            await self.worker.store.put_if(task, rev)
        except Conflict:
            return Verdict.CONFLICT
        await _settle(self.msg, "ack")
        return verdict

    async def _take(self, task: Task, rev: int, spec: KindSpec) -> Verdict:
        w, now = self.worker, time.time()
        task.state, task.worker, task.started_at = "running", self.node, now
        task.attempts += 1
        task.lease_until = now + w.config.ack_wait_s
        task.wait_reason = task.eligible_at = None
        task.note("started", self.node, f"attempt {task.attempts}, delivery {self.delivery}")
        try:
            rev = await w.store.put_if(task, rev)
        except Conflict:
            return Verdict.CONFLICT
        self.current, self.rev = task.model_copy(deep=True), rev
        return await self._execute(task, rev, spec)

    async def _execute(self, task: Task, rev: int, spec: KindSpec) -> Verdict:
        w = self.worker
        slot = Running(task.id, task.gpu_vram_mb, time.time())
        w.running[task.id] = slot
        cancelled = False

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
                    cancelled = True
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
        return await self._record(task.id, slot.handler, spec, cancelled)

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
            t.lease_until = time.time() + self.worker.config.ack_wait_s

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
            await asyncio.shield(self.worker.store.mutate(task_id, change))
        await _settle(self.msg, "nak")

    async def _record(self, task_id: str, handler: asyncio.Task[Any], spec: KindSpec, cancelled: bool) -> Verdict:
        w = self.worker
        error, result = _result_of(handler)
        verdict, delay = Verdict.SUCCEEDED, 0.0

        def change(t: Task) -> None:
            nonlocal verdict, delay
            now = time.time()
            t.lease_until = None
            limit = t.max_failures or w.config.max_failures
            verdict = finish(cancelled=t.state == "cancelled" or cancelled or handler.cancelled(),
                             failed=error is not None, permanent=isinstance(error, PermanentTaskError),
                             failures=t.failures + (error is not None), max_failures=limit)
            if verdict is Verdict.CANCELLED:
                if t.state != "cancelled":
                    t.state, t.finished_at = "cancelled", now
                t.note("stopped", self.node, "cancelled while running")
            elif verdict is Verdict.SUCCEEDED:
                t.state, t.result, t.finished_at, t.error = "succeeded", result, now, None
                t.note("succeeded", self.node, f"in {now - (t.started_at or now):.2f}s")
            else:
                t.failures += 1
                t.error = f"{type(error).__name__}: {error}"[:4000]
                if verdict is Verdict.FAILED:
                    t.state, t.finished_at = "failed", now
                    t.note("failed", self.node, t.error)
                else:
                    delay = backoff(t.failures, w.config.backoff_base_s, w.config.backoff_max_s)
                    t.state = "retrying"
                    t.note("retrying", self.node, f"{t.error}; retry {t.failures + 1} of {limit} in {delay:.1f}s")

        await self._change(task_id, change)
        if error is not None and verdict is not Verdict.RETRYING:
            logger.info("task {} ({}) failed: {}", task_id, spec.kind, error)
        if verdict is Verdict.RETRYING:
            await _settle(self.msg, "nak", delay)
        else:
            await _settle(self.msg, "ack")
        return verdict


def _result_of(handler: asyncio.Task[Any]) -> tuple[BaseException | None, Any]:
    """The handler's error (None when it was cancelled or succeeded) and its result, which must be small JSON."""
    if handler.cancelled():
        return None, None
    if (exc := handler.exception()) is not None:
        return exc, None
    result = handler.result()
    try:
        size = len(json.dumps(result))
    except (TypeError, ValueError) as e:
        return PermanentTaskError(f"result is not JSON: {e}"), result
    if size > MAX_RESULT_BYTES:
        return PermanentTaskError(f"result is {size} bytes, at most {MAX_RESULT_BYTES}; "
                                  "store it elsewhere and return a reference"), result
    return None, result


async def _settle_progress(msg: Msg) -> None:
    with contextlib.suppress(Exception):
        await msg.in_progress()


def backoff(failures: int, base: float, cap: float, jitter: Callable[[], float] = random.random) -> float:
    """``base * 2^(failures-1)``, at most ``cap``, with up to 10% jitter."""
    d = min(cap, base * float(2 ** max(0, failures - 1)))
    return float(d * (0.9 + 0.2 * jitter()))
