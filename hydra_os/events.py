"""Events on ``HYDRA_EVENTS``: the cluster's audit trail, hash-chained per node.

Each node publishes on its own subject (``hydra.events.<node>``). Every event carries the hash of
the node's previous event, so removing or editing one breaks the chain. An event may carry a
dedup id: when several nodes report the same fact (a peer that left), JetStream keeps one.

Events go through a local durable outbox (``<state_dir>/events-outbox.jsonl``, fsync'd) and are
sent in order, one at a time, each only after the previous one was stored. A bus outage therefore
delays events but never forks the chain: a publish whose ack was lost is retried as the same
message (same ``Nats-Msg-Id``, so JetStream keeps one copy), and each carries
``Nats-Expected-Last-Subject-Sequence``, so a stale copy that nats-py re-sends from its reconnect
buffer after the dedup window is refused rather than stored twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any, Protocol

import nats.errors
import nats.js.errors
from loguru import logger
from pydantic import BaseModel, Field

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.errors import BusError
from hydra_os.lifecycle import Background
from hydra_os.outbox import Outbox, OutboxEntry


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


_BUS_ERRORS = (nats.errors.Error, BusError, OSError, TimeoutError)
_WRONG_LAST_SEQUENCE = 10071  # JetStream: Nats-Expected-Last-Subject-Sequence did not match
OUTBOX_FILE = "events-outbox.jsonl"


class HeadRecorder(Protocol):
    """Keeps the chain head outside the stream (:class:`hydra_os.policy.chainhead.ChainHeadStore`)."""

    async def resume(self, stream_last: tuple[int, str, str | None] | None) -> str | None:
        """The hash to continue from, given the stream's last event of this node (seq, hash, prev)."""
        ...

    async def record(self, stream_seq: int, event_hash: str) -> None:
        """Called once the stream accepted an event."""
        ...


class EventLog:
    """Publishes this node's events through the outbox, keeping the hash chain."""

    def __init__(self, bus: Bus, node_id: str, outbox: Path | None = None, *, retry_s: float = 1.0,
                 head_store: HeadRecorder | None = None) -> None:
        """``outbox``: the durable outbox file (the daemon's state dir); None keeps it in memory."""
        self.bus = bus
        self.node_id = node_id
        self.head_store = head_store
        self.subject = names.events_subject(node_id)
        self.retry_s = retry_s
        self._outbox = Outbox(outbox)
        self._last_hash: str | None = None  # the chain's tail, queued events included
        self._sent_hash: str | None = None  # the newest event the stream holds
        self._subject_seq = 0  # its stream sequence (0: none)
        self._lock = asyncio.Lock()  # the chain tail and the outbox
        self._send_lock = asyncio.Lock()  # one sender at a time, in order
        self._sender = Background("events")  # its one task runs only while the outbox holds events

    @property
    def head(self) -> str | None:
        """Hash of this node's newest stored event (None before the first); ``hydra audit verify`` compares it."""
        return self._sent_hash

    @property
    def queued(self) -> int:
        """Events waiting in the outbox for the bus."""
        return len(self._outbox.pending)

    async def start(self) -> None:
        """Pick the chain up where this node's last event (stored or still in the outbox) left it."""
        await asyncio.to_thread(self._outbox.load)
        last = await self._read_stream_tail()
        base = self._sent_hash
        if self.head_store is not None:  # the persisted head decides (newest events removed while down)
            base = await self.head_store.resume(last)
        pending = self._outbox.pending
        self._last_hash = Event.model_validate_json(pending[-1].payload).hash if pending else base
        if pending:
            logger.info("{} event(s) from before the restart wait in the outbox", len(pending))
            self._ensure_sender()

    async def stop(self) -> None:
        await self._sender.close()

    async def _read_stream_tail(self) -> tuple[int, str, str | None] | None:
        """The stream's last event of this node as (seq, hash, prev); None when it holds none."""
        try:
            msg = await self.bus.js.get_last_msg(names.EVENTS_STREAM, self.subject)
        except nats.js.errors.NotFoundError:
            self._sent_hash, self._subject_seq = None, 0
            return None
        self._subject_seq = int(msg.seq or 0)
        if not msg.data:
            self._sent_hash = None
            return None
        ev = Event.model_validate_json(msg.data)
        self._sent_hash = ev.hash
        return (self._subject_seq, ev.hash, ev.prev)

    async def publish(
        self, type_: str, data: dict[str, Any] | None = None, *, dedup_id: str | None = None
    ) -> Event | None:
        """Append an event to the chain; returns it, or None when JetStream already had one with ``dedup_id``.

        The event is durable in the outbox when this returns; with the bus down it is sent later.
        """
        async with self._lock:
            ev = Event(node=self.node_id, type=type_, data=data or {}, prev=self._last_hash)
            ev.hash = ev.compute_hash()
            entry = await asyncio.to_thread(self._outbox.append, ev.model_dump_json(), dedup_id)
            self._last_hash = ev.hash
        kept = await self._drain() if self.bus.status.connected else {}
        if self._outbox.pending:
            self._ensure_sender()
        return None if kept.get(entry.seq) is False else ev

    def _ensure_sender(self) -> None:
        if not self._sender:
            self._sender.spawn(self._send_loop(), "outbox")

    async def _send_loop(self) -> None:
        """Retry every ``retry_s`` until the outbox is empty (the bus may be down for a while)."""
        while self._outbox.pending:
            await asyncio.sleep(self.retry_s)
            if self.bus.status.connected:
                await self._drain()

    async def _drain(self) -> dict[int, bool]:
        """Send queued events in order until the outbox is empty or the bus fails; seq -> stored."""
        out: dict[int, bool] = {}
        async with self._send_lock:
            while self._outbox.pending:
                entry = self._outbox.pending[0]
                try:
                    stored = await self._send(entry)
                except _BUS_ERRORS as e:
                    logger.debug("event {} stays in the outbox: {}", entry.seq, type(e).__name__)
                    return out
                async with self._lock:
                    await asyncio.to_thread(self._outbox.mark_sent, entry.seq)
                    if not stored:
                        await self._rechain()
                out[entry.seq] = stored
        return out

    async def _send(self, entry: OutboxEntry) -> bool:
        """Publish one event; True when the stream holds it, False when another node's report was kept."""
        ev = Event.model_validate_json(entry.payload)
        headers = {"Nats-Msg-Id": entry.dedup_id or ev.id}
        if self._subject_seq:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(self._subject_seq)
        try:
            ack = await self.bus.js.publish(self.subject, entry.payload.encode(), headers=headers)
        except nats.js.errors.APIError as e:
            if e.err_code != _WRONG_LAST_SEQUENCE:
                raise
            # a copy of this event got in first (re-sent from nats-py's buffer after the dedup window)
            # or the stream moved on without us: read what the subject ends with
            await self._read_stream_tail()
            if self._sent_hash == ev.hash:
                await self._stored(ev.hash, self._subject_seq)
                return True
            async with self._lock:
                await self._rechain()
            raise BusError("the event stream moved on; the outbox was re-chained") from None
        if ack.duplicate and entry.dedup_id is not None:
            kept = await self.bus.js.get_msg(names.EVENTS_STREAM, ack.seq)
            if not kept.data or Event.model_validate_json(kept.data).id != ev.id:
                return False  # another node's report of the same fact is the one stored
        if not ack.duplicate or ack.stream:
            self._subject_seq = max(self._subject_seq, int(ack.seq))
        await self._stored(ev.hash, int(ack.seq))
        return True

    async def _stored(self, event_hash: str, stream_seq: int) -> None:
        """The stream holds this event: it is the sent tail, and the persisted chain head."""
        self._sent_hash = event_hash
        if self.head_store is not None:  # persisted chain head (hydra_os.policy.chainhead)
            await self.head_store.record(stream_seq, event_hash)

    async def _rechain(self) -> None:
        """Re-link what is still queued onto the stream's tail (an entry was dropped or the tail moved)."""
        prev = self._sent_hash
        redone: list[OutboxEntry] = []
        for e in self._outbox.pending:
            ev = Event.model_validate_json(e.payload).model_copy(update={"prev": prev})
            ev.hash = ev.compute_hash()
            prev = ev.hash
            redone.append(OutboxEntry(e.seq, ev.model_dump_json(), e.dedup_id))
        await asyncio.to_thread(self._outbox.replace_pending, redone)
        self._last_hash = prev
