"""The live feed: events from ``hydra.events.>`` as Server-Sent Events.

One core NATS subscription per open page (JetStream stores events by publishing them on their
subject, so a plain subscriber sees each as it is stored). Each page gets a bounded queue: a
slow or stalled browser loses events (the page says how many), it never makes the daemon buffer
without limit. At most ``ui.max_streams`` pages are served at once; a comment line every
``KEEPALIVE_S`` keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.events import Event

QUEUE_SIZE = 256
KEEPALIVE_S = 15.0


def summarize(ev: Event) -> str:
    """One line for the feed: the fields people scan for, the action's own ones first."""
    act = ev.data.get("action")
    d = {**(act if isinstance(act, dict) else {}), **ev.data}
    parts = [str(d[k]) for k in ("summary", "kind", "target", "approval_id", "task_id", "incident", "state", "status",
                                 "reason", "error") if d.get(k) not in (None, "")]
    return " · ".join(parts)[:300]


def sse(event: str, data: dict[str, object]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Feed:
    def __init__(self, bus: Bus, max_streams: int) -> None:
        self.bus = bus
        self.max_streams = max_streams
        self.open = 0

    def full(self) -> bool:
        return self.open >= self.max_streams

    async def stream(self, type_prefix: str = "") -> AsyncIterator[bytes]:
        """SSE bytes until the client goes away (Starlette cancels the generator then)."""
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        dropped = 0

        async def on_msg(msg: object) -> None:
            nonlocal dropped
            try:
                ev = Event.model_validate_json(getattr(msg, "data", b""))
            except ValueError:
                return
            if not ev.type.startswith(type_prefix):
                return
            try:
                queue.put_nowait(ev)
            except asyncio.QueueFull:
                dropped += 1

        self.open += 1
        sub = None
        try:
            sub = await self.bus.nc.subscribe(names.EVENTS_SUBJECTS, cb=on_msg)
            await self.bus.nc.flush(timeout=5)  # the server has the subscription: "hello" means live from now
            yield sse("hello", {"streams": self.open})
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE_S):
                        ev = await queue.get()
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if dropped:
                    yield sse("dropped", {"count": dropped})
                    dropped = 0
                yield sse("hydra", {"id": ev.id, "type": ev.type, "node": ev.node, "ts": ev.ts,
                                    "summary": summarize(ev)})
        finally:
            self.open -= 1
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
