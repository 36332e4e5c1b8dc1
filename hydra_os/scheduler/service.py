"""The scheduler component (role ``scheduler``): campaigns for leadership; the leader runs APScheduler.

APScheduler 3 (``AsyncIOScheduler``) keeps the jobs in a SQLAlchemy job store (SQLite in the state
dir), in the owner's time zone, with misfires coalesced (``coalesce=True`` and a grace time per job).
On election the leader (re)installs the configured jobs and the runtime ones from the
``hydra_schedule`` bucket (:mod:`.store`) and catches up: each job's latest slot within its grace runs
now unless it already ran (per-slot idempotency keys). While it leads it re-reads the bucket whenever
a key in it changes (and every ``resync_s`` as a backstop) and adds, replaces or removes APScheduler
jobs to match. On losing leadership it shuts APScheduler down. Followers run nothing.

APScheduler's scheduler and SQLAlchemy are imported only when this node becomes the leader (they cost
~200 ms of start-up otherwise; the triggers, which every node uses to say when a job runs next, are
not). APScheduler's job store calls are synchronous SQLite on a local file of a few jobs; they run on
the event loop (APScheduler 3's AsyncIOScheduler does so itself) and take well under a millisecond.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from loguru import logger

from hydra_os.bus import names
from hydra_os.config import Settings
from hydra_os.events import EventLog
from hydra_os.lifecycle import Background, Lifecycle
from hydra_os.scheduler.errors import JobStoreError, job_store_damage
from hydra_os.scheduler.jobs import CALL, Job, build_jobs, from_def, slot_key, slot_of
from hydra_os.scheduler.leader import LeaderLock
from hydra_os.scheduler.store import ScheduleStore, StoredJob
from hydra_os.sections.tasks import TasksConfig
from hydra_os.tasks.model import TaskSpec
from hydra_os.tasks.queue import TaskQueue

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

EVENT_WINDOW_OPENED = "tasks.window.opened"
EVENT_WINDOW_CLOSED = "tasks.window.closed"
EVENT_JOB_SKIPPED = "scheduler.job.skipped"

# APScheduler's persistent store keeps a *reference* to the job function, so the function is a module
# attribute and finds its live service here, by node id. Only running services are in it.
_SERVICES: dict[str, SchedulerService] = {}


async def fire(node_id: str, job_id: str) -> None:
    """The function every stored job calls."""
    svc = _SERVICES.get(node_id)
    if svc is None:
        logger.warning("scheduler job {} fired but the scheduler of {} is not running", job_id, node_id)
        return
    await svc.run_job(job_id)


class SchedulerService(Lifecycle):
    name = "scheduler"

    def __init__(self, settings: Settings, tasks: TasksConfig, queue: TaskQueue, *,
                 events: EventLog | None = None, live_nodes: Any = None, resync_s: float = 30.0) -> None:
        self.settings = settings
        self.tasks_config = tasks
        self.config = tasks.scheduler
        self.queue = queue
        self.events = events
        self.live_nodes = live_nodes
        self.node_id = settings.node.id
        self.tz = ZoneInfo(settings.owner.timezone)
        self.jobs: dict[str, Job] = {}  # what this node runs while it leads: configured + runtime jobs
        self.runtime: dict[str, StoredJob] = {}
        self.shadowed: list[str] = []  # runtime job ids hidden by a configured job of the same id
        self.store = ScheduleStore(queue.bus)
        self.store_path = settings.node.state_dir / self.config.job_store
        self.last: dict[str, dict[str, Any]] = {}
        self.resync_s = resync_s
        self.lock = LeaderLock(queue.bus, self.node_id, lease_s=self.config.lease_s, renew_s=self.config.renew_s,
                               poll_s=self.config.poll_s, on_elected=self._elected, on_lost=self._lost)
        self._aps: AsyncIOScheduler | None = None
        self._changed = asyncio.Event()
        self._sub: Any = None
        self._sync = Background("scheduler")  # its sync task runs while this node leads

    # ---- component --------------------------------------------------------------------------
    async def _start(self) -> None:
        _SERVICES[self.node_id] = self
        try:
            await self.store.kv()  # create the hydra_schedule bucket (idempotent)
        except Exception as e:  # the leader retries when elected; a follower does not need it
            logger.warning("scheduler: cannot open the {} bucket yet: {}", names.SCHEDULE_BUCKET, e)
        await self.lock.start()

    async def _stop(self) -> None:
        await self.lock.stop()
        await self._lost()
        if _SERVICES.get(self.node_id) is self:
            del _SERVICES[self.node_id]

    def _details(self) -> dict[str, Any]:
        return {**self.lock.status(), "jobs": len(self.jobs), "runtime_jobs": len(self.runtime),
                "job_store": str(self.store_path)}

    # ---- leadership -----------------------------------------------------------------------------
    def _config_jobs(self) -> dict[str, Job]:
        return {j.id: j for j in build_jobs(self.settings, self.tasks_config)}

    def _runtime_jobs(self, stored: dict[str, StoredJob], taken: set[str]) -> tuple[dict[str, Job], list[str]]:
        out: dict[str, Job] = {}
        shadowed = []
        for jid, sj in sorted(stored.items()):
            if jid in taken:
                shadowed.append(jid)
                continue
            out[jid] = from_def(sj.job, self.tz, source="runtime", title=sj.title, created_at=sj.created_at)
        return out, shadowed

    def _install(self, aps: AsyncIOScheduler, job: Job) -> None:
        aps.add_job(fire, trigger=job.trigger, args=[self.node_id, job.id], id=job.id, name=job.description,
                    replace_existing=True, misfire_grace_time=int(max(1, job.grace_s)), coalesce=True)

    async def _elected(self) -> None:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # lazy: only a leader needs them,
        from apscheduler.schedulers.asyncio import AsyncIOScheduler  # lazy: SQLAlchemy + APScheduler, ~200 ms

        self.store_path.parent.mkdir(parents=True, exist_ok=True)
        configured = self._config_jobs()
        self.runtime = await self.store.all()
        runtime, self.shadowed = self._runtime_jobs(self.runtime, set(configured))
        self.jobs = {**configured, **runtime}
        aps = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{self.store_path}")},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=self.tz,
        )
        try:
            aps.start(paused=True)
        except Exception as e:  # SQLAlchemy's DatabaseError for a corrupt file ("file is not a database")
            with contextlib.suppress(Exception):
                aps.shutdown(wait=False)
            raise JobStoreError(job_store_damage(self.store_path, e)) from e
        wanted = set(self.jobs)
        for stored in aps.get_jobs():
            if stored.id not in wanted:
                stored.remove()
        for job in self.jobs.values():
            self._install(aps, job)
        self._aps = aps
        for job_id in list(self.jobs):  # catch up: the latest slot within grace runs once, cluster-wide
            await self.run_job(job_id)
        aps.resume()
        self._changed.clear()

        async def on_change(_msg: Any) -> None:
            self._changed.set()

        self._sub = await self.queue.bus.nc.subscribe(names.kv_subject(names.SCHEDULE_BUCKET), cb=on_change)
        self._sync.spawn(self._sync_loop(), "sync")

    async def _sync_loop(self) -> None:
        while self._aps is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.resync_s)
            self._changed.clear()
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.warning("scheduler: re-reading {} failed: {}", names.SCHEDULE_BUCKET, e)

    async def sync(self) -> dict[str, list[str]]:
        """Bring APScheduler in line with the bucket: add new jobs, replace changed ones, remove deleted."""
        aps = self._aps
        if aps is None:
            return {}
        stored = await self.store.all()
        configured = {i: j for i, j in self.jobs.items() if j.source != "runtime"}
        runtime, self.shadowed = self._runtime_jobs(stored, set(configured))
        old = {i for i, j in self.jobs.items() if j.source == "runtime"}
        added = sorted(set(runtime) - old)
        removed = sorted(old - set(runtime))
        changed = sorted(i for i in set(runtime) & old
                         if stored[i].model_dump_json() != self.runtime[i].model_dump_json())
        for jid in removed:
            with contextlib.suppress(Exception):
                aps.remove_job(jid)
            self.last.pop(jid, None)
        for jid in (*added, *changed):
            self._install(aps, runtime[jid])
        self.runtime = stored
        self.jobs = {**configured, **runtime}
        if added or removed or changed:
            logger.info("scheduler: runtime jobs added {}, changed {}, removed {}", added, changed, removed)
        return {"added": added, "changed": changed, "removed": removed}

    async def _lost(self) -> None:
        aps, self._aps = self._aps, None
        sub, self._sub = self._sub, None
        await self._sync.close()
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        if aps is not None and aps.running:
            aps.shutdown(wait=False)

    # ---- running jobs ---------------------------------------------------------------------------
    async def run_job(self, job_id: str, now: datetime | None = None) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None or not self.lock.is_leader:
            return {"outcome": "not-leader"}
        now = now or datetime.now(self.tz)
        slot = slot_of(job, now)
        if slot is None or (job.created_at is not None and slot.timestamp() < job.created_at - 1e-3):
            return {"outcome": "no-slot"}
        key = slot_key(job.id, slot)
        try:
            record = await (self._call(job, key, slot) if job.target == CALL else self._enqueue(job, key, slot))
        except Exception as e:
            record = {"outcome": "error", "error": f"{type(e).__name__}: {e}"}
            logger.warning("scheduler job {} for {} failed: {}", job.id, slot.isoformat(), record["error"])
        record.update({"slot": slot.isoformat(), "at": time.time(), "node": self.node_id})
        self.last[job.id] = record
        return record

    async def _enqueue(self, job: Job, key: str, slot: datetime) -> dict[str, Any]:
        kinds = await self.queue.store.worker_kinds()
        live = set(self.live_nodes()) if self.live_nodes is not None else set(kinds)
        if not any(job.kind in ks for node, ks in kinds.items() if node in live):
            if self.last.get(job.id, {}).get("outcome") != "skipped" and self.events is not None:
                await self.events.publish(EVENT_JOB_SKIPPED, {"job": job.id, "kind": job.kind,
                                                              "reason": "no live worker handles this kind"},
                                          dedup_id=key + ":skipped")
            return {"outcome": "skipped", "reason": f"no live worker handles task kind {job.kind}"}
        res = await self.queue.enqueue(TaskSpec(
            kind=job.kind, params=dict(job.params or {}), priority=job.priority, window=job.window,  # type: ignore[arg-type]
            gpu_vram_mb=job.gpu_vram_mb, idempotency_key=key, source="scheduler",
            title=f"{job.id} for {slot.strftime('%Y-%m-%d %H:%M %Z')}",
        ))
        return {"outcome": "enqueued" if res.created else "already-ran", "task": res.task.id}

    async def _call(self, job: Job, key: str, slot: datetime) -> dict[str, Any]:
        if await self.queue.store.claim_idempotency(key, job.id) is not None:
            return {"outcome": "already-ran"}
        window = "overnight"
        if job.kind == "overnight-open":
            released = await self.queue.release_due()
            waiting = await self.queue.pending_in_window(window)
            data = {"window": window, "slot": slot.isoformat(), "released": released, "tasks": len(waiting)}
            if self.events is not None:
                await self.events.publish(EVENT_WINDOW_OPENED, data, dedup_id=key)
            return {"outcome": "ran", **data}
        if job.kind == "overnight-close":
            left = await self.queue.pending_in_window(window)
            data = {"window": window, "slot": slot.isoformat(), "unfinished": [t.id for t in left][:100],
                    "unfinished_count": len(left)}
            if self.events is not None:
                await self.events.publish(EVENT_WINDOW_CLOSED, data, dedup_id=key)
            return {"outcome": "ran", **data}
        return {"outcome": "error", "error": f"unknown scheduler callable {job.kind}"}

    # ---- views ------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        next_runs: dict[str, str | None] = {}
        if self._aps is not None:
            for j in self._aps.get_jobs():
                next_runs[j.id] = j.next_run_time.isoformat() if j.next_run_time else None
        return {
            "node": self.node_id,
            **self.lock.status(),
            "timezone": self.tz.key,
            "jobs": [
                {"id": j.id, "description": j.description, "target": j.target, "kind": j.kind, "source": j.source,
                 "trigger": str(j.trigger), "grace_s": j.grace_s, "window": j.window,
                 "next_run": next_runs.get(j.id), "last": self.last.get(j.id)}
                for j in self.jobs.values()
            ],
            "shadowed": [f"runtime job {i!r} is hidden by the configured job of the same id" for i in self.shadowed],
        }
