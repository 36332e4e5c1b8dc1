"""Recurring jobs added at run time (``hydra schedule add``, ``POST /v1/schedule``, recurring requests).

They live in the ``hydra_schedule`` KV bucket (job id -> :class:`StoredJob` JSON, file storage), which
any node may write; the scheduler leader reads the bucket when it is elected and again whenever a key
changes (a core subscription on the bucket's subject, plus a periodic re-read as a backstop) and
installs the jobs into APScheduler next to the configured ones. The bucket is created idempotently by
whoever touches it first (the scheduler at start, or a writer on a fresh cluster).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.bus.kvscan import kv_scan
from hydra_os.errors import BusError
from hydra_os.scheduler.errors import InvalidJobError, JobExistsError, JobNotFoundError
from hydra_os.scheduler.jobs import next_fire
from hydra_os.sections.scheduler import RESERVED_JOB_IDS, JobDef


class StoredJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job: JobDef
    source: str = Field(default="api", max_length=40, description="Who added it: cli, api, intake.")
    title: str = Field(default="", max_length=300, description="What it is for, in words.")
    created_at: float = Field(default_factory=time.time)


def invalid(e: ValidationError) -> InvalidJobError:
    """One line naming the first bad field."""
    err = e.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "job"
    return InvalidJobError(f"{field}: {err['msg'].removeprefix('Value error, ')}")


class ScheduleStore:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._kv: KeyValue | None = None

    async def kv(self) -> KeyValue:
        if self._kv is None:
            try:
                self._kv = await self.bus.kv(names.SCHEDULE_BUCKET)
            except BusError:
                cfg = KeyValueConfig(bucket=names.SCHEDULE_BUCKET, history=5, storage=StorageType.FILE,
                                     replicas=self.bus.config.replicas)
                try:
                    self._kv = await self.bus.js.create_key_value(cfg)
                except nats.js.errors.BadRequestError:  # created by someone else meanwhile
                    self._kv = await self.bus.js.key_value(names.SCHEDULE_BUCKET)
        return self._kv

    async def add(self, stored: StoredJob, *, replace: bool = False) -> StoredJob:
        jid = stored.job.id
        if jid in RESERVED_JOB_IDS:
            raise InvalidJobError(f"id: {jid!r} is a built-in job's id; choose another")
        kv = await self.kv()
        data = stored.model_dump_json().encode()
        if replace:
            await kv.put(jid, data)
            return stored
        try:
            await kv.create(jid, data)
        except nats.js.errors.KeyWrongLastSequenceError:
            if await self._stored_bytes(jid) == data:  # an earlier try of this add landed; its answer was late
                return stored
            raise JobExistsError(f"id: a job {jid!r} is already scheduled; remove it first or choose another id")\
                from None
        return stored

    async def _stored_bytes(self, job_id: str) -> bytes | None:
        try:
            return (await (await self.kv()).get(job_id)).value
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None

    async def get(self, job_id: str) -> StoredJob:
        kv = await self.kv()
        try:
            entry = await kv.get(job_id)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            raise JobNotFoundError(f"id: no scheduled job {job_id!r} (hydra schedule list shows them)") from None
        return StoredJob.model_validate_json(entry.value or b"{}")

    async def remove(self, job_id: str) -> StoredJob:
        stored = await self.get(job_id)
        kv = await self.kv()
        await kv.delete(job_id)
        return stored

    async def all(self) -> dict[str, StoredJob]:
        """Every stored job; an entry that no longer validates (an older format) is skipped, not fatal."""
        kv = await self.kv()
        out: dict[str, StoredJob] = {}
        for item in await kv_scan(kv):
            try:
                out[item.key] = StoredJob.model_validate_json(item.value)
            except ValidationError:
                continue
        return out


def parse_job(body: dict[str, Any]) -> JobDef:
    try:
        return JobDef.model_validate(body)
    except ValidationError as e:
        raise invalid(e) from None


def dump(stored: StoredJob) -> dict[str, Any]:
    return json.loads(stored.model_dump_json())  # type: ignore[no-any-return]


async def add_job(store: ScheduleStore, job: JobDef, tz: str, *, source: str, title: str = "",
                  replace: bool = False) -> dict[str, Any]:
    """Store ``job`` and say when it fires next (in the owner's zone); what the API and CLI call."""
    return await add_stored(store, StoredJob(job=job, source=source, title=title), tz, replace=replace)


async def add_stored(store: ScheduleStore, stored: StoredJob, tz: str, *, replace: bool = False) -> dict[str, Any]:
    """:func:`add_job` of a record made once, so that a retried add finds its own earlier try (same bytes)."""
    stored = await store.add(stored, replace=replace)
    zone = ZoneInfo(tz)
    nxt = next_fire(stored.job, zone, datetime.now(zone))
    return {**dump(stored), "next_run": nxt.isoformat() if nxt else None}
