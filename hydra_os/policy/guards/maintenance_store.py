"""Ad-hoc maintenance windows, cluster-wide in the ``hydra_policy`` KV bucket (``maintenance.<id>``).

``hydra maintenance start --for 2h`` writes one entry; every node's policy component watches the
bucket and mirrors the entries into its :class:`~.maintenance.MaintenanceSchedule`. ``stop`` deletes
the entry (or every open one). Past windows are ignored by readers and deleted by ``prune``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import nats.errors
import nats.js.errors
from loguru import logger
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.bus.kvscan import WATCH_INACTIVE_S, kv_scan
from hydra_os.errors import BusError, NotFoundError
from hydra_os.policy.guards.maintenance import AdhocWindow, MaintenanceSchedule

PREFIX = "maintenance."


async def policy_bucket(bus: Bus) -> KeyValue:
    """The ``hydra_policy`` bucket, created on first use (idempotent)."""
    try:
        return await bus.js.key_value(names.POLICY_BUCKET)
    except nats.js.errors.BucketNotFoundError:
        pass
    try:
        return await bus.js.create_key_value(
            KeyValueConfig(bucket=names.POLICY_BUCKET, history=1, storage=StorageType.FILE)
        )
    except nats.js.errors.BadRequestError:  # created concurrently by another node
        return await bus.js.key_value(names.POLICY_BUCKET)
    except nats.errors.Error as e:
        raise BusError(f"cannot create bucket {names.POLICY_BUCKET}: {e}") from None


class MaintenanceStore:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, bus: Bus) -> MaintenanceStore:
        return cls(await policy_bucket(bus))

    async def start(self, duration: float, *, targets: list[str] | None = None, reason: str = "",
                    by: str = "") -> AdhocWindow:
        if duration <= 0:
            raise ValueError("duration must be positive")
        now = time.time()
        w = AdhocWindow(id=uuid.uuid4().hex[:8], targets=targets or ["*"], start=now, until=now + duration,
                        reason=reason, by=by)
        await self.kv.put(PREFIX + w.id, w.model_dump_json().encode())
        return w

    async def windows(self, include_past: bool = False) -> list[AdhocWindow]:
        try:
            items = await kv_scan(self.kv, PREFIX + ">")
        except nats.errors.Error as e:
            raise BusError(f"cannot list maintenance windows in {names.POLICY_BUCKET}: {e}") from None
        out: list[AdhocWindow] = []
        now = time.time()
        for item in items:
            w = AdhocWindow.model_validate_json(item.value)
            if include_past or w.until > now:
                out.append(w)
        return sorted(out, key=lambda w: w.start)

    async def stop(self, window_id: str | None = None) -> list[str]:
        """End one window (by id) or every open one; returns the ids ended."""
        if window_id is None:
            ids = [w.id for w in await self.windows()]
        else:
            try:
                await self.kv.get(PREFIX + window_id)
            except nats.js.errors.KeyNotFoundError:
                raise NotFoundError(
                    f"no maintenance window {window_id!r}; see 'hydra maintenance list'"
                ) from None
            ids = [window_id]
        for i in ids:
            await self.kv.delete(PREFIX + i)
        return ids

    async def prune(self) -> None:
        for w in await self.windows(include_past=True):
            if w.until <= time.time():
                with contextlib.suppress(nats.js.errors.KeyNotFoundError):
                    await self.kv.delete(PREFIX + w.id)


async def mirror(kv: KeyValue, schedule: MaintenanceSchedule, ready: asyncio.Event | None = None) -> None:
    """Keep ``schedule`` in step with the bucket until cancelled."""
    watcher = await kv.watch(PREFIX + ">", inactive_threshold=WATCH_INACTIVE_S)
    try:
        async for entry in watcher:
            if entry is None:  # initial values delivered
                if ready is not None:
                    ready.set()
                continue
            wid = entry.key.removeprefix(PREFIX)
            if entry.operation in ("DEL", "PURGE") or not entry.value:
                schedule.remove(wid)
                continue
            try:
                schedule.put(AdhocWindow.model_validate_json(entry.value))
            except ValueError as e:
                logger.warning("ignoring malformed maintenance entry {}: {}", entry.key, e)
    finally:
        with contextlib.suppress(Exception):
            await watcher.stop()  # type: ignore[no-untyped-call]
