"""The live feed: events from ``hydra.events.>`` as Server-Sent Events.

One core NATS subscription per open page (JetStream stores events by publishing them on their
subject, so a plain subscriber sees each as it is stored). Each page gets a bounded queue: a
slow or stalled browser loses events (the page says how many), it never makes the daemon buffer
without limit. At most ``ui.max_streams`` pages are served at once; a comment line every
``KEEPALIVE_S`` keeps proxies from closing an idle stream. The audit chain's status
(:class:`~hydra_os.ui.auditwatch.AuditWatch`) comes on the same stream as ``audit`` events: the last
one known at once, a fresh one after events arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from hydra_os.api.sse import sse
from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.events import Event
from hydra_os.ui.auditwatch import AuditWatch, ChainStatus

QUEUE_SIZE = 256
KEEPALIVE_S = 15.0


def summarize(ev: Event) -> str:
    """One line for the feed: the fields people scan for, the action's own ones first."""
    act = ev.data.get("action")
    d = {**(act if isinstance(act, dict) else {}), **ev.data}
    parts = [str(d[k]) for k in ("summary", "kind", "target", "approval_id", "task_id", "incident", "state", "status",
                                 "reason", "error") if d.get(k) not in (None, "")]
    return " · ".join(parts)[:300]


def _item(item: Event | ChainStatus) -> bytes:
    if isinstance(item, ChainStatus):
        return sse("audit", item.as_dict())
    return sse("hydra", {"id": item.id, "type": item.type, "node": item.node, "ts": item.ts,
                         "summary": summarize(item)})


class Feed:
    def __init__(self, bus: Bus, max_streams: int, watch: AuditWatch) -> None:
        self.bus = bus
        self.max_streams = max_streams
        self.watch = watch
        self.open = 0

    def full(self) -> bool:
        return self.open >= self.max_streams

    async def stream(self, type_prefix: str = "") -> AsyncIterator[bytes]:
        """SSE bytes until the client goes away (Starlette cancels the generator then)."""
        queue: asyncio.Queue[Event | ChainStatus] = asyncio.Queue(QUEUE_SIZE)
        dropped = 0

        def put(item: Event | ChainStatus) -> None:
            nonlocal dropped
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                dropped += 1

        async def on_msg(msg: object) -> None:
            self.watch.mark()  # any event (filtered out here or not) extends the chain
            try:
                ev = Event.model_validate_json(getattr(msg, "data", b""))
            except ValueError:
                return
            if ev.type.startswith(type_prefix):
                put(ev)

        self.open += 1
        sub = None
        unlisten = self.watch.listen(put)
        try:
            sub = await self.bus.nc.subscribe(names.EVENTS_SUBJECTS, cb=on_msg)
            await self.bus.nc.flush(timeout=5)  # the server has the subscription: "hello" means live from now
            yield sse("hello", {"streams": self.open})
            if self.watch.status is not None:
                yield _item(self.watch.status)
            self.watch.mark()  # events may have come while no page was open
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE_S):
                        item = await queue.get()
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if dropped:
                    yield sse("dropped", {"count": dropped})
                    dropped = 0
                yield _item(item)
        finally:
            unlisten()
            self.open -= 1
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
