"""Pulls task messages from the per-priority consumers without lingering.

Every worker shares one durable pull consumer per priority level (``hydra-tasks-p<N>`` filtered on
``hydra.tasks.p<N>.>``; a work-queue stream allows several consumers when their filters do not overlap).
A worker with free slots asks the highest level first with a ``no_wait`` pull request (the server
answers at once: the messages it has, then a ``404 No Messages`` status), then the next level, so
urgent tasks go first. An idle worker does not hold lingering pulls open on four consumers; it waits
for a *doorbell*: a core subscription on ``hydra.tasks.>`` that sees every publish (the payload is
ignored), plus a slow poll in case a doorbell was missed during a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

import nats.errors
import nats.js.errors
from loguru import logger
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.errors import BusError
from hydra_os.sections.tasks import TasksConfig

_DONE_STATUSES = {"404", "408", "409"}


async def ensure_consumers(bus: Bus, config: TasksConfig) -> None:
    """Create or update the shared consumers (ack_wait and limits follow the config of the last starter)."""
    for p in names.TASK_PRIORITIES:
        cc = ConsumerConfig(
            name=names.task_consumer(p),
            durable_name=names.task_consumer(p),
            filter_subject=names.task_queue_filter(p),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=config.ack_wait_s,
            max_deliver=-1,
            max_ack_pending=config.max_ack_pending,
            max_waiting=512,
        )
        try:
            await bus.js.add_consumer(names.TASKS_STREAM, cc)
        except (nats.errors.Error, nats.js.errors.Error, TimeoutError) as e:
            raise BusError(f"cannot create task consumer {cc.name} on {names.TASKS_STREAM}: {e}") from None


class Puller:
    """One inbox subscription per priority level; one pull in flight per level at a time.

    JetStream delivers pulled messages with their original subject, so a message cannot say which
    request it answers; with one request per level in flight it does not need to. A message arriving
    when no pull waits (its pull timed out) is handed back with a nak.
    """

    def __init__(self, bus: Bus, *, timeout: float = 2.0) -> None:
        self.bus = bus
        self.timeout = timeout
        self._inbox: dict[int, str] = {}
        self._subs: list[Subscription] = []
        self._current: dict[int, asyncio.Queue[Msg] | None] = {}
        self._locks = {p: asyncio.Lock() for p in names.TASK_PRIORITIES}

    async def start(self) -> None:
        for p in names.TASK_PRIORITIES:
            self._inbox[p] = self.bus.nc.new_inbox()
            self._current[p] = None
            self._subs.append(await self.bus.nc.subscribe(self._inbox[p], cb=self._router(p)))

    def _router(self, priority: int) -> Callable[[Msg], Awaitable[None]]:
        async def on_msg(msg: Msg) -> None:
            q = self._current.get(priority)
            if q is not None:
                q.put_nowait(msg)
            elif msg.reply and not (msg.headers or {}).get("Status"):
                with contextlib.suppress(Exception):
                    await msg.nak()

        return on_msg

    async def pull(self, priority: int, batch: int) -> list[Msg]:
        """Up to ``batch`` messages from one priority level, without waiting for new ones."""
        async with self._locks[priority]:
            q: asyncio.Queue[Msg] = asyncio.Queue()
            self._current[priority] = q
            out: list[Msg] = []
            try:
                req = json.dumps({"batch": batch, "no_wait": True}).encode()
                subject = f"$JS.API.CONSUMER.MSG.NEXT.{names.TASKS_STREAM}.{names.task_consumer(priority)}"
                await self.bus.nc.publish(subject, req, reply=self._inbox[priority])
                loop = asyncio.get_running_loop()
                deadline = loop.time() + self.timeout
                while len(out) < batch:
                    try:
                        # asyncio.timeout, not wait_for: wait_for can swallow a cancellation on 3.11
                        async with asyncio.timeout(max(0.0, deadline - loop.time())):
                            msg = await q.get()
                    except TimeoutError:
                        logger.debug("pull on priority {} timed out after {} messages", priority, len(out))
                        break
                    status = (msg.headers or {}).get("Status")
                    if status:
                        if status not in _DONE_STATUSES:
                            logger.debug("pull on priority {}: status {} {}", priority, status,
                                         (msg.headers or {}).get("Description"))
                        break
                    out.append(msg)
            finally:
                self._current[priority] = None
            return out

    async def stop(self) -> None:
        subs, self._subs = self._subs, []
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
