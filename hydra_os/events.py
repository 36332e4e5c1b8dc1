"""Events on ``HYDRA_EVENTS``: the cluster's audit trail, hash-chained per node.

Each node publishes on its own subject (``hydra.events.<node>``). Every event carries the hash of
the node's previous event, so removing or editing one breaks the chain. An event may carry a
dedup id: when several nodes report the same fact (a peer that left), JetStream keeps one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from typing import Any, Protocol

import nats.js.errors
from pydantic import BaseModel, Field

from hydra_os.bus import names
from hydra_os.bus.client import Bus


class Event(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    node: str
    type: str
    ts: float = Field(default_factory=time.time)
    data: dict[str, Any] = Field(default_factory=dict)
    prev: str | None = None
    hash: str = ""

    def compute_hash(self) -> str:
        body = self.model_dump(exclude={"hash"})
        raw = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
        return hashlib.sha256(raw).hexdigest()


class HeadRecorder(Protocol):
    """Keeps the chain head outside the stream (:class:`hydra_os.policy.chainhead.ChainHeadStore`)."""

    async def resume(self, stream_last: tuple[int, str, str | None] | None) -> str | None:
        """The hash to continue from, given the stream's last event of this node (seq, hash, prev)."""
        ...

    async def record(self, stream_seq: int, event_hash: str) -> None:
        """Called once the stream accepted an event."""
        ...


class EventLog:
    """Publishes this node's events, keeping the hash chain. One publish at a time."""

    def __init__(self, bus: Bus, node_id: str, head_store: HeadRecorder | None = None) -> None:
        self.bus = bus
        self.node_id = node_id
        self.head_store = head_store
        self.subject = names.events_subject(node_id)
        self._last_hash: str | None = None
        self._lock = asyncio.Lock()

    @property
    def head(self) -> str | None:
        """Hash of this node's last event (None before the first); ``hydra audit verify`` compares it."""
        return self._last_hash

    async def start(self) -> None:
        """Pick the chain up where this node's last event left it."""
        last: tuple[int, str, str | None] | None = None
        try:
            msg = await self.bus.js.get_last_msg(names.EVENTS_STREAM, self.subject)
        except nats.js.errors.NotFoundError:
            msg = None
        if msg is not None and msg.data:
            ev = Event.model_validate_json(msg.data)
            last = (int(msg.seq or 0), ev.hash, ev.prev)
        self._last_hash = last[1] if last else None
        if self.head_store is not None:  # the persisted head decides (newest events removed while down)
            self._last_hash = await self.head_store.resume(last)

    async def publish(
        self, type_: str, data: dict[str, Any] | None = None, *, dedup_id: str | None = None
    ) -> Event | None:
        """Append an event; returns it, or None when JetStream already had one with ``dedup_id``."""
        async with self._lock:
            ev = Event(node=self.node_id, type=type_, data=data or {}, prev=self._last_hash)
            ev.hash = ev.compute_hash()
            headers = {"Nats-Msg-Id": dedup_id} if dedup_id else None
            ack = await self.bus.js.publish(self.subject, ev.model_dump_json().encode(), headers=headers)
            if ack.duplicate:
                return None
            self._last_hash = ev.hash
            if self.head_store is not None:  # persisted chain head (hydra_os.policy.chainhead)
                await self.head_store.record(ack.seq, ev.hash)
            return ev
