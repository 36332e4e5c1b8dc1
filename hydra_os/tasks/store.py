"""Task state in the ``hydra_tasks`` KV bucket. Key layout (one bucket, prefixes)::

    task.<id>            Task JSON; every change is compare-and-set on the key's revision
    idem.<sha256(key)>   task id: the durable idempotency record (outlives the stream's dedup window)
    pend.<id>            Unix time: the pending set (deferred tasks, and enqueues in flight)
    step.<id>.<step>     a finished step's checkpoint (see :mod:`hydra_os.tasks.checkpoints`)
    kinds.<node>         task kinds the worker on <node> handles

nats errors are translated to :class:`~hydra_os.errors.BusError` here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.bus.kvscan import KvItem, kv_scan
from hydra_os.errors import BusError
from hydra_os.readiness import FailureRecord
from hydra_os.tasks.errors import TaskNotFoundError
from hydra_os.tasks.model import Task

T = TypeVar("T")
Conflict = nats.js.errors.KeyWrongLastSequenceError


class Skip(Exception):
    """Raised by a mutation to leave the record as it is."""


def idem_key(key: str) -> str:
    return "idem." + hashlib.sha256(key.encode()).hexdigest()[:40]


async def guarded(what: str, coro: Awaitable[T]) -> T:
    try:
        return await coro
    except nats.js.errors.KeyValueError:
        raise  # an answer about the key (conflict, not found): the caller decides
    except (nats.errors.TimeoutError, TimeoutError, nats.errors.ConnectionClosedError,
            nats.errors.NoRespondersError) as e:
        raise BusError(f"{what}: the bus did not answer ({type(e).__name__})") from None
    except (nats.js.errors.ServiceUnavailableError, nats.js.errors.ServerError,
            nats.js.errors.BadRequestError) as e:
        # e.g. "maximum consumers limit reached": the bus answers but cannot serve this request
        raise BusError(f"{what}: JetStream refused it ({e.description or type(e).__name__})") from None


class TaskStore:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._kv: KeyValue | None = None
        self.health = FailureRecord()
        """The latest bus outcome of this store; registered as a readiness probe by the task setup."""

    async def call(self, what: str, coro: Awaitable[T]) -> T:
        """:func:`guarded`, and remember whether the bus could serve it (for ``/readyz``)."""
        try:
            out = await guarded(what, coro)
        except BusError as e:
            self.health.fail(str(e))
            raise
        except nats.js.errors.KeyValueError:
            self.health.ok()
            raise
        self.health.ok()
        return out

    async def kv(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self.bus.kv(names.TASKS_BUCKET)
        return self._kv

    # ---- task records -------------------------------------------------------------------
    async def get(self, task_id: str) -> tuple[Task, int]:
        kv = await self.kv()
        if not task_id or not all(c.isalnum() or c in "-_" for c in task_id):
            raise TaskNotFoundError(f"no task {task_id!r}; task ids are letters and digits")
        try:
            entry = await self.call("reading a task", kv.get(f"task.{task_id}"))
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            raise TaskNotFoundError(f"no task {task_id!r}; 'hydra tasks --all' lists them") from None
        if not entry.value:
            raise TaskNotFoundError(f"no task {task_id!r}")
        return Task.model_validate_json(entry.value), int(entry.revision or 0)

    async def create(self, task: Task) -> int:
        kv = await self.kv()
        return int(await self.call("storing a task", kv.create(f"task.{task.id}", task.model_dump_json().encode())))

    async def put_if(self, task: Task, revision: int) -> int:
        """Compare-and-set; raises :data:`Conflict` when someone else changed the task first."""
        kv = await self.kv()
        return int(await self.call(
            "updating a task", kv.update(f"task.{task.id}", task.model_dump_json().encode(), last=revision)
        ))

    async def mutate(self, task_id: str, change: Callable[[Task], None]) -> tuple[Task, int]:
        """Read, apply ``change`` (which may raise :class:`Skip` or an error), write back; retry on conflict."""
        while True:
            task, rev = await self.get(task_id)
            try:
                change(task)
            except Skip:
                return task, rev
            try:
                return task, await self.put_if(task, rev)
            except Conflict:
                await asyncio.sleep(0)

    async def scan(self, prefix: str) -> list[KvItem]:
        """Every live key under ``prefix`` (e.g. ``task``) with its value and revision."""
        kv = await self.kv()
        return await self.call(f"listing {prefix} keys", kv_scan(kv, f"{prefix}.>"))

    async def all_tasks(self) -> list[Task]:
        return [Task.model_validate_json(v) for _, v, _ in await self.scan("task")]

    # ---- idempotency ------------------------------------------------------------------------
    async def claim_idempotency(self, key: str, task_id: str) -> str | None:
        """Record ``key -> task_id``; returns the task id already holding the key, or None when we got it."""
        kv = await self.kv()
        k = idem_key(key)
        try:
            await self.call("recording an idempotency key", kv.create(k, task_id.encode()))
            return None
        except Conflict:
            entry = await self.call("reading an idempotency key", kv.get(k))
            return (entry.value or b"").decode() or None

    # ---- pending set ------------------------------------------------------------------------
    async def set_pending(self, task_id: str, at: float) -> None:
        kv = await self.kv()
        await self.call("marking a task pending", kv.put(f"pend.{task_id}", repr(at).encode()))

    async def clear_pending(self, task_id: str) -> None:
        kv = await self.kv()
        try:
            await self.call("clearing a pending mark", kv.delete(f"pend.{task_id}"))
        except nats.js.errors.KeyNotFoundError:
            pass

    async def pending(self) -> list[tuple[str, float]]:
        out = []
        for key, value, _ in await self.scan("pend"):
            try:
                out.append((key.split(".", 1)[1], float(value.decode())))
            except ValueError:
                continue
        return sorted(out, key=lambda p: p[1])

    # ---- kinds each worker handles ---------------------------------------------------------
    async def advertise_kinds(self, node_id: str, kinds: list[str]) -> None:
        kv = await self.kv()
        await self.call("advertising task kinds", kv.put(f"kinds.{node_id}", json.dumps(sorted(kinds)).encode()))

    async def withdraw_kinds(self, node_id: str) -> None:
        kv = await self.kv()
        try:
            await self.call("withdrawing task kinds", kv.delete(f"kinds.{node_id}"))
        except nats.js.errors.KeyNotFoundError:
            pass

    async def worker_kinds(self) -> dict[str, list[str]]:
        out: dict[str, Any] = {}
        for key, value, _ in await self.scan("kinds"):
            try:
                out[key.split(".", 1)[1]] = list(json.loads(value))
            except ValueError:
                continue
        return out
