"""Each node's audit chain head, kept outside ``HYDRA_EVENTS`` so removals from the stream show.

The hash chain alone cannot show that a node's *newest* events, or *all* of them, were removed: what
is left is still a consistent chain. So after every event it publishes, a node records its head —
the event's hash, its stream sequence, how many events it has recorded — in two places:

- ``<state_dir>/audit/chain-head.json``, written atomically and fsynced: the node's own memory. On
  start the node compares it with the last event of its subject in the stream; if they differ (and
  the stream's last event is not simply the one recorded just before a crash), its newest events were
  removed while it was down: it logs that and continues its chain from the *recorded* head, so the gap
  stays visible as a broken link instead of being papered over.
- key ``<node>`` in the ``hydra_audit`` KV bucket (file storage): a copy any node or ``hydra audit
  verify`` can read, also for nodes that are stopped or gone. It is written after the stream accepted
  the event, so it is never ahead of the stream; it can lag by one event when the KV write fails, and
  the node re-asserts it from the file at every start.

Both live in places an attacker with write access to the bus (the KV) or to the node's state dir (the
file) can also change; what this adds is detection of removals by anyone who cannot change both the
stream and the head (a crash, a purge, a retention mistake, an operator deleting messages). Signing
heads per node is future work (docs/policy.md says exactly what verify proves).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import nats.errors
import nats.js.errors
from loguru import logger
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue
from pydantic import BaseModel, ValidationError

from hydra_os.bus.client import Bus
from hydra_os.bus.kvscan import kv_scan
from hydra_os.errors import BusError
from memory.core.atomic import atomic_write

AUDIT_BUCKET = "hydra_audit"
HEAD_FILE = Path("audit") / "chain-head.json"
KV_TIMEOUT_S = 5.0


class ChainHead(BaseModel):
    """The newest event a node published, as the node recorded it."""

    node: str
    hash: str
    stream_seq: int
    count: int
    """Events recorded since ``first_stream_seq`` (this record's start)."""
    first_stream_seq: int
    ts: float


async def audit_bucket(bus: Bus) -> KeyValue:
    """The ``hydra_audit`` bucket, created on first use (idempotent)."""
    try:
        return await bus.js.key_value(AUDIT_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        pass
    try:
        return await bus.js.create_key_value(KeyValueConfig(
            bucket=AUDIT_BUCKET, history=1, storage=StorageType.FILE, replicas=bus.config.replicas))
    except nats.js.errors.BadRequestError:  # created concurrently by another node
        return await bus.js.key_value(AUDIT_BUCKET)
    except nats.errors.Error as e:
        raise BusError(f"cannot create bucket {AUDIT_BUCKET}: {e}") from None


async def recorded_heads(bus: Bus) -> dict[str, ChainHead]:
    """Every node's recorded head from the KV copy (what ``hydra audit verify`` compares against)."""
    out: dict[str, ChainHead] = {}
    for item in await kv_scan(await audit_bucket(bus)):
        with contextlib.suppress(ValidationError):
            out[item.key] = ChainHead.model_validate_json(item.value)
    return out


def _write_durably(path: Path, data: bytes) -> None:
    """Write, fsync, rename, fsync the directory: after a crash the file is the old or the new head."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, data)


def _read(path: Path) -> ChainHead | None:
    try:
        return ChainHead.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError, ValueError) as e:
        # never overwrite silently what we cannot read: keep it aside for the owner
        aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
        with contextlib.suppress(OSError):
            os.replace(path, aside)
        logger.error("audit chain head {} is unreadable ({}); moved to {}; starting a new record", path, e, aside)
        return None


def _newer(file: ChainHead | None, kv: ChainHead | None) -> ChainHead | None:
    """The later of the two records of one chain: the file lags when it could not be written (full
    disk), the KV copy when the bus write failed. Taking the later one means lowering either record
    (an edit to hide removed events) changes nothing; a record of another lineage loses to the file."""
    if file is None or kv is None or kv.first_stream_seq != file.first_stream_seq:
        return file or kv
    return kv if kv.count > file.count else file


class ChainHeadStore:
    """The persisted head of one node's chain (file + KV copy). Used by :class:`~hydra_os.events.EventLog`."""

    def __init__(self, state_dir: Path, bus: Bus, node_id: str) -> None:
        self.path = state_dir / HEAD_FILE
        self.bus = bus
        self.node_id = node_id
        self.head: ChainHead | None = None
        self._kv: KeyValue | None = None
        self.gap: str | None = None
        """Set on start when the stream lost this node's newest events while it was down."""

    async def resume(self, stream_last: tuple[int, str, str | None] | None) -> str | None:
        """The hash to continue the chain from, given the stream's last event of this node
        ``(stream_seq, hash, prev)`` (None when it has none)."""
        self.head = _newer(await asyncio.to_thread(_read, self.path), await self._read_kv())
        head = self.head
        if head is None:
            return stream_last[1] if stream_last else None  # first start with a head record: adopt the stream
        if stream_last is not None and (stream_last[1] == head.hash or stream_last[2] == head.hash):
            if stream_last[1] != head.hash:  # published, then killed before recording: adopt it
                await self.record(stream_last[0], stream_last[1])
            else:
                await self._publish_kv(head)  # re-assert the KV copy (it may lag or have been edited)
            return stream_last[1]
        where = f"the stream's last is seq {stream_last[0]}" if stream_last else "the stream has none of its events"
        self.gap = (f"the newest events of node {self.node_id} were removed from the stream while it was down: "
                    f"its recorded head is event #{head.count} (seq {head.stream_seq}, {head.hash[:12]}), {where}")
        logger.error("audit: {}; continuing the chain from the recorded head so the gap stays visible", self.gap)
        await self._publish_kv(head)
        return head.hash

    async def record(self, stream_seq: int, event_hash: str) -> None:
        """After the stream accepted an event: persist it as the head (file first, then the KV copy)."""
        prev = self.head
        self.head = ChainHead(
            node=self.node_id, hash=event_hash, stream_seq=stream_seq,
            count=(prev.count + 1) if prev else 1,
            first_stream_seq=prev.first_stream_seq if prev else stream_seq, ts=time.time(),
        )
        try:
            await asyncio.to_thread(_write_durably, self.path, self.head.model_dump_json().encode())
        except OSError as e:  # the event is published; a full disk must not turn that into a failure
            logger.error("audit chain head not persisted to {} ({}); the KV copy still is", self.path, e)
        await self._publish_kv(self.head)

    async def _read_kv(self) -> ChainHead | None:
        try:
            async with asyncio.timeout(KV_TIMEOUT_S):
                if self._kv is None:
                    self._kv = await audit_bucket(self.bus)
                entry = await self._kv.get(self.node_id)
            return ChainHead.model_validate_json(entry.value or b"")
        except (TimeoutError, nats.errors.Error, BusError, OSError, ValidationError, ValueError):
            return None

    async def _publish_kv(self, head: ChainHead) -> None:
        try:
            async with asyncio.timeout(KV_TIMEOUT_S):
                if self._kv is None:
                    self._kv = await audit_bucket(self.bus)
                await self._kv.put(self.node_id, head.model_dump_json().encode())
        except (TimeoutError, nats.errors.Error, BusError, OSError) as e:
            # the file is the record; the KV copy is re-asserted at the next event or start
            logger.debug("audit head of {} not copied to {}: {}", self.node_id, AUDIT_BUCKET, e)
